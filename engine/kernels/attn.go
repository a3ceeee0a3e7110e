package kernels

// Attention's two products over a sequence's cached keys and values, which
// sit in rows of a wider cache (stride floats apart: all KV heads of a
// position). Per key or value row the arithmetic does not depend on how
// many rows a call covers or where it starts, so a query gives the same
// bits whether its keys are walked in one call or in tiles, alone or in a
// batch.

// DotRows sets dst[t] = x · rows[t*stride : t*stride+len(x)] for every t
// < len(dst).
func DotRows(dst, x, rows []float32, stride int) {
	if len(dst) == 0 {
		return
	}
	_ = rows[(len(dst)-1)*stride+len(x)-1]
	if dotRowsArch(dst, x, rows, stride) {
		return
	}
	for t := range dst {
		dst[t] = dotF32Go(x, rows[t*stride:t*stride+len(x)])
	}
}

// Prefetch asks the CPU to bring x into its level-2 cache, without
// waiting for it: attention calls it on the next unit's keys and values
// while it works on the current one. It changes no value.
func Prefetch(x []float32) { prefetchArch(x) }

// AxpyRows adds Σ_t a[t] · rows[t*stride : t*stride+len(y)] to y, the
// terms in order of t.
func AxpyRows(y, a, rows []float32, stride int) {
	if len(a) == 0 || len(y) == 0 {
		return
	}
	_ = rows[(len(a)-1)*stride+len(y)-1]
	if axpyRowsArch(y, a, rows, stride) {
		return
	}
	axpyRowsGo(y, a, rows, stride)
}

func axpyRowsGo(y, a, rows []float32, stride int) {
	for t, w := range a {
		v := rows[t*stride : t*stride+len(y)]
		for j, vj := range v {
			y[j] += w * vj
		}
	}
}
