package kernels

// spinPause waits a moment inside a spin loop (see pause_amd64.s).
//
//go:noescape
func spinPause()
