//go:build !amd64

package kernels

func dotQ80x4Arch(row []byte, d []float32, qs []int8, nb, cols int, out *[4]float32) bool {
	return false
}
