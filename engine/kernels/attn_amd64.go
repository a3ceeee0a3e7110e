package kernels

//go:noescape
func axpyRows32AVX2(y, a, rows *float32, stride, n int)

//go:noescape
func axpyRows8AVX2(y, a, rows *float32, stride, n int)

//go:noescape
func axpyRows48AVX2(y, a, rows *float32, stride, n int)

//go:noescape
func prefetchT1(p *float32, n int)

//go:noescape
func scaleMaxAVX2(x *float32, n int, s float32) float32

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

// scaleMaxArch multiplies x's first multiple of 8 values by s and returns
// their largest, and how many that was (0: none, no AVX2).
func scaleMaxArch(x []float32, s float32) (float32, int) {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 {
		return 0, 0
	}
	return scaleMaxAVX2(&x[0], n, s), n
}

// scaleArch multiplies x's first multiple of 8 values by s and reports
// how many that was.
func scaleArch(x []float32, s float32) int {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	scaleAVX2(&x[0], n, s)
	return n
}

func prefetchArch(x []float32) {
	if hasAVX2 && len(x) > 0 {
		prefetchT1(&x[0], len(x))
	}
}

// dotRowsArch runs every row through the four-row f32 kernel: rows four
// at a time, then each remaining row alone as a group of four copies of
// itself (stride 0), so that a row's sum is the same in any group.
func dotRowsArch(dst, x, rows []float32, stride int) bool {
	cols := len(x)
	if !hasAVX2 || cols < 8 {
		return false
	}
	m := cols &^ 7
	var out [4]float32
	n := len(dst)
	for t := 0; t < n; {
		k, s := 4, stride
		if t+4 > n {
			k, s = 1, 0
		}
		dotF32x4Kernel(&x[0], &rows[t*stride], s, m, &out)
		for i := range k {
			d := out[i]
			if m < cols {
				r := rows[(t+i)*stride : (t+i)*stride+cols]
				for c := m; c < cols; c++ {
					d += x[c] * r[c]
				}
			}
			dst[t+i] = d
		}
		t += k
	}
	return true
}

// axpyRowsArch keeps a panel of y (32 columns, or 48 where 48-63 remain,
// then 8) in registers across all rows: one load and store of y per panel
// instead of one per row. Each column's sum is the same chain of FMAs in any panel.
// (A 64-column panel measured no faster than two of 32.)
func axpyRowsArch(y, a, rows []float32, stride int) bool {
	cols := len(y)
	if !hasAVX2 || cols < 8 {
		return false
	}
	n := len(a)
	j := 0
	for ; j+32 <= cols; j += 32 {
		if r := cols - j; r >= 48 && r < 64 {
			axpyRows48AVX2(&y[j], &a[0], &rows[j], stride, n)
			j += 16
			continue
		}
		axpyRows32AVX2(&y[j], &a[0], &rows[j], stride, n)
	}
	for ; j+8 <= cols; j += 8 {
		axpyRows8AVX2(&y[j], &a[0], &rows[j], stride, n)
	}
	if j < cols {
		for t, w := range a {
			v := rows[t*stride+j : t*stride+cols]
			for i, vi := range v {
				y[j+i] += w * vi
			}
		}
	}
	return true
}
