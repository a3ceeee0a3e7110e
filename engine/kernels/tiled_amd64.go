package kernels

//go:noescape
func dotQ80x4RowsAVX2(row *byte, rowBytes, nrows int, d *float32, qs *int8, nb, qstride, dstride int, dst *float32, dstStride int)

//go:noescape
func dotQ80x4RowsVNNI(row *byte, rowBytes, nrows int, d *float32, qs *int8, nb, qstride, dstride int, dst *float32, dstStride int)

// dotQ80x4RowsArch runs the assembly dotQ80x4Rows, or reports false.
// Lengths are checked by the caller.
func dotQ80x4RowsArch(rows []byte, rowBytes, nrows int, d []float32, qs []int8, nb, cols int, dst []float32, dstStride int) bool {
	switch {
	case !hasAVX2:
		return false
	case useVNNI:
		dotQ80x4RowsVNNI(&rows[0], rowBytes, nrows, &d[0], &qs[0], nb, cols, 4*nb, &dst[0], dstStride)
	default:
		dotQ80x4RowsAVX2(&rows[0], rowBytes, nrows, &d[0], &qs[0], nb, cols, 4*nb, &dst[0], dstStride)
	}
	return true
}
