//go:build !amd64

package kernels

func dotQ80x4RowsArch(rows []byte, rowBytes, nrows int, d []float32, qs []int8, nb, cols int, dst []float32, dstStride int) bool {
	return false
}
