package kernels

//go:noescape
func dotQ80x4AVX2(row *byte, d *float32, qs *int8, nb, qstride, dstride int, out *[4]float32)

//go:noescape
func dotQ80x4VNNI(row *byte, d *float32, qs *int8, nb, qstride, dstride int, out *[4]float32)

// dotQ80x4Arch runs the assembly dotQ80x4, in the build dotQ80 uses, and
// reports false where there is none. Lengths are checked by the caller.
func dotQ80x4Arch(row []byte, d []float32, qs []int8, nb, cols int, out *[4]float32) bool {
	switch {
	case !hasAVX2:
		return false
	case useVNNI:
		dotQ80x4VNNI(&row[0], &d[0], &qs[0], nb, cols, 4*nb, out)
	default:
		dotQ80x4AVX2(&row[0], &d[0], &qs[0], nb, cols, 4*nb, out)
	}
	return true
}
