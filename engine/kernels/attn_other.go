//go:build !amd64

package kernels

func dotRowsArch(dst, x, rows []float32, stride int) bool { return false }
func axpyRowsArch(y, a, rows []float32, stride int) bool  { return false }
func prefetchArch(x []float32)                            {}
