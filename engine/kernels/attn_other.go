//go:build !amd64

package kernels

func dotRowsArch(dst, x, rows []float32, stride int) bool { return false }
func axpyRowsArch(y, a, rows []float32, stride int) bool  { return false }
func prefetchArch(x []float32)                            {}

func scaleMaxArch(x []float32, s float32) (float32, int) { return 0, 0 }

func scaleArch(x []float32, s float32) int { return 0 }
