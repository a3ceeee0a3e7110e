//go:build !amd64

package kernels

// spinPause waits a moment inside a spin loop.
func spinPause() {}
