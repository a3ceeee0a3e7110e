package kernels

import (
	"sync"

	"github.com/runnel/runnel/engine/ggml"
)

// MatMulTiled computes what MatMul computes, bit for bit, for many input
// vectors at once (a prompt's tokens, or one token of each of several
// sequences). Activations are quantized once for all n vectors, as MatMul
// does; the rows a core takes are walked in tiles of tileRows weight rows
// by four vectors, so a tile's weights stay in the first-level cache while
// the vectors go past; and Q8_0, Q5_0, Q4_0, Q4_K and Q6_K rows go through
// kernels that load and unpack each weight block once for four vectors
// (on amd64 with AVX2; elsewhere the tiles use the dot products). Below
// four vectors, and for f32, f16 and bf16 weights, it is MatMul.
func MatMulTiled(dst []float32, m *Matrix, x []float32, n int) {
	if n < 4 || !isQuantized(m.Type) {
		MatMul(dst, m, x, n)
		return
	}
	rb := m.check(len(dst), len(x), n)
	t := tiledJobs.Get().(*tiledJob)
	t.xq.quantizeFor(m.Type, x[:n*m.Cols], m.Cols, true)
	t.run(dst, m, x, n, rb, t.xq)
	tiledJobs.Put(t)
}

// Acts are n activation vectors that several products take as input (a
// layer's queries, keys and values; its gate and up projections): the
// first quantized product quantizes them, and the others reuse that.
// An Acts is not safe for concurrent use.
type Acts struct {
	x     []float32
	n     int
	cols  int // the row width xq holds x quantized for in blocks of 32; 0: none yet
	kcols int // the same for xq.k, in super-blocks of 256
	xq    qvec
}

// Set makes a the n vectors of x, to be quantized on first need.
func (a *Acts) Set(x []float32, n int) { a.x, a.n, a.cols, a.kcols = x, n, 0, 0 }

// prepare quantizes a's vectors for products with m, in the form m's type
// takes, unless that was done since Set, and makes what m's tiles read
// that no earlier product has.
func (a *Acts) prepare(m *Matrix) {
	if needsK(m.Type) {
		if a.kcols != m.Cols {
			a.xq.quantizeFor(m.Type, a.x[:a.n*m.Cols], m.Cols, true)
			a.kcols = m.Cols
		}
		return
	}
	if a.cols != m.Cols {
		a.xq.quantize(a.x[:a.n*m.Cols])
		a.cols = m.Cols
	}
	a.xq.forTiles(m.Type, m.Cols/qk)
}

// MatMulActs is MatMulTiled of a's vectors, quantizing them only if no
// earlier product has since Set. Its results are MatMul's, bit for bit.
func MatMulActs(dst []float32, m *Matrix, a *Acts) {
	n := a.n
	if n <= 0 {
		return
	}
	if !isQuantized(m.Type) {
		MatMul(dst, m, a.x, n)
		return
	}
	rb := m.check(len(dst), len(a.x), n)
	a.prepare(m)
	t := tiledJobs.Get().(*tiledJob)
	t.run(dst, m, a.x, n, rb, a.xq)
	tiledJobs.Put(t)
}

// tiledJob is a job whose fn is its own tiled rows method, made once so
// that a product allocates nothing.
type tiledJob struct {
	j  *job
	fn func(lo, hi int)
	xq qvec // MatMulTiled's quantized activations

	// A fused job's products (MatMulActsFused, MatMulActsGated): rows
	// [first, first+m.Rows) of the job are product i's; for a gated job
	// both products span all rows and gate runs over each finished chunk.
	parts            [3]part
	nparts           int
	gate             func(g, u []float32)
	fusedFn, gatedFn func(lo, hi int)
}

type part struct {
	m        *Matrix
	dst      []float32
	rowBytes int
	first    int
}

// run computes the product over the pool, with x quantized in xq.
func (t *tiledJob) run(dst []float32, m *Matrix, x []float32, n, rowBytes int, xq qvec) {
	j := t.j
	j.m, j.dst, j.x, j.n, j.rowBytes, j.xq, j.fn = m, dst[:n*m.Rows], x[:n*m.Cols], n, rowBytes, xq, t.fn
	run(j, m.Rows, m.Rows*m.Cols*n)
	j.m, j.dst, j.x, j.xq, j.fn = nil, nil, nil, qvec{}, nil
}

var tiledJobs = sync.Pool{New: func() any {
	t := &tiledJob{j: &job{doneCh: make(chan struct{}, 1)}}
	t.fn, t.fusedFn, t.gatedFn = t.rows, t.fusedRows, t.gatedRows
	return t
}}

// MatMulActsFused computes MatMulActs(dst[i], m[i], a) for each of up to
// three products of the same vectors (nil matrices are skipped) as one
// job on the pool: their rows are shared out together, and the caller
// waits for helpers once instead of once a product (a layer's queries,
// keys and values). The results are MatMulActs' bits: every row is
// computed as it is alone.
func MatMulActsFused(a *Acts, dst [3][]float32, m [3]*Matrix) {
	n := a.n
	if n <= 0 {
		return
	}
	if !fuse || !fusable(a, m[:]) {
		for i := range m {
			if m[i] != nil {
				MatMulActs(dst[i], m[i], a)
			}
		}
		return
	}
	t := tiledJobs.Get().(*tiledJob)
	rows, work := 0, 0
	for i := range m {
		if m[i] == nil {
			continue
		}
		rb := m[i].check(len(dst[i]), len(a.x), n)
		t.parts[t.nparts] = part{m: m[i], dst: dst[i][:n*m[i].Rows], rowBytes: rb, first: rows}
		t.nparts++
		rows += m[i].Rows
		work += m[i].Rows * m[i].Cols * n
	}
	t.runFused(a, t.fusedFn, rows, work, 1)
	tiledJobs.Put(t)
}

// MatMulActsGated computes g = gate·a and u = up·a (MatMulActs' bits) and
// then gate(g, u) over every vector's rows, as one job on the pool: each
// chunk of rows gets both products and then the gate over those rows, so
// the feed-forward's two products and its activation cost one wait for
// helpers, not three. gate must be element-wise. It reports false, doing
// nothing, when the products cannot be fused bit for bit: unquantized
// weights, different shapes, or rows not a multiple of 8 (the SiLU kernel
// takes eight values at a time; a chunk of the gate must start and end on
// the eights that one call over all rows would use).
func MatMulActsGated(g []float32, gate *Matrix, u []float32, up *Matrix, a *Acts, f func(g, u []float32)) bool {
	n := a.n
	if !fuse || n <= 0 || gate.Rows != up.Rows || gate.Rows%8 != 0 || !fusable(a, []*Matrix{gate, up}) {
		return false
	}
	t := tiledJobs.Get().(*tiledJob)
	rows := gate.Rows
	t.parts[0] = part{m: gate, dst: g[:n*rows], rowBytes: gate.check(len(g), len(a.x), n)}
	t.parts[1] = part{m: up, dst: u[:n*rows], rowBytes: up.check(len(u), len(a.x), n)}
	t.nparts, t.gate = 2, f
	t.runFused(a, t.gatedFn, rows, 2*rows*gate.Cols*n+16*rows*n, 8)
	t.gate = nil
	tiledJobs.Put(t)
	return true
}

// fuse turns the fused products on; a variable so that a benchmark can
// compare them with one job a product.
var fuse = true

// SetFusedProducts turns MatMulActsFused's and MatMulActsGated's fusion
// on or off and reports whether it was on, for benchmarks that compare
// them with one job a product in one process (the results are the same
// bits either way). Call it only while no product runs.
func SetFusedProducts(on bool) bool {
	was := fuse
	fuse = on
	return was
}

// fusable reports whether products of a by m (nil entries skipped) can
// share one tiled job: all quantized, all as wide as a's vectors.
func fusable(a *Acts, m []*Matrix) bool {
	cols := 0
	for _, mi := range m {
		if mi == nil {
			continue
		}
		if !isQuantized(mi.Type) || (cols != 0 && mi.Cols != cols) {
			return false
		}
		cols = mi.Cols
	}
	return cols != 0
}

// runFused quantizes a in the forms the products take if no product has
// since Set, and runs fn over rows on the pool in chunks of a multiple of
// align rows.
func (t *tiledJob) runFused(a *Acts, fn func(lo, hi int), rows, work, align int) {
	for _, p := range t.parts[:t.nparts] {
		a.prepare(p.m)
	}
	j := t.j
	j.n, j.xq, j.fn, j.align = a.n, a.xq, fn, align
	run(j, rows, work)
	j.xq, j.fn, j.align = qvec{}, nil, 0
	for i := range t.nparts {
		t.parts[i] = part{}
	}
	t.nparts = 0
}

// fusedRows computes rows [lo, hi) of the job's concatenated products.
func (t *tiledJob) fusedRows(lo, hi int) {
	for _, p := range t.parts[:t.nparts] {
		l, h := max(lo, p.first)-p.first, min(hi, p.first+p.m.Rows)-p.first
		if l < h {
			t.tiles(p.m, p.dst, p.rowBytes, l, h)
		}
	}
}

// gatedRows computes rows [lo, hi) of both products, then the gate over
// them for every vector.
func (t *tiledJob) gatedRows(lo, hi int) {
	g, u := &t.parts[0], &t.parts[1]
	t.tiles(g.m, g.dst, g.rowBytes, lo, hi)
	t.tiles(u.m, u.dst, u.rowBytes, lo, hi)
	rows := g.m.Rows
	for v := range t.j.n {
		t.gate(g.dst[v*rows+lo:v*rows+hi], u.dst[v*rows+lo:v*rows+hi])
	}
}

// tileRows is how many weight rows a tile spans: 16 rows of 2048 Q8_0
// weights are 34 KiB, which the first-level cache holds while four
// vectors' activations at a time go past them.
const tileRows = 16

// rows computes output rows [lo, hi) for all vectors, tile by tile.
func (t *tiledJob) rows(lo, hi int) { t.tiles(t.j.m, t.j.dst, t.j.rowBytes, lo, hi) }

// tiles computes rows [lo, hi) of m's product with the job's vectors
// into dst, tile by tile.
func (t *tiledJob) tiles(m *Matrix, dst []float32, rowBytes, lo, hi int) {
	if needsK(m.Type) {
		t.ktiles(m, dst, rowBytes, lo, hi)
		return
	}
	j := t.j
	n := j.n
	cols, nb := m.Cols, m.Cols/qk
	dot := dotFor(m.Type)
	x4 := hasX4(m.Type) && nb > 0
	for r0 := lo; r0 < hi; r0 += tileRows {
		r1 := min(r0+tileRows, hi)
		v := 0
		if x4 {
			rows := m.Data[r0*rowBytes : r1*rowBytes]
			xq := &j.xq
			// Eight vectors at a time where the type has such a kernel
			// (batched decode has eight): what a weight block costs
			// besides the vectors' products is then paid once for eight.
			if x8Tiles && hasX8(m.Type) {
				for ; v+8 <= n; v += 8 {
					dotX8Rows(m.Type, rows, rowBytes, r1-r0, xq, v, cols, dst[v*m.Rows+r0:], m.Rows)
				}
			}
			for ; v+4 <= n; v += 4 {
				dotX4Rows(m.Type, rows, rowBytes, r1-r0, xq, v, v, cols, dst[v*m.Rows+r0:], m.Rows)
			}
			// Two or three leftover vectors: the last four in one more
			// tile (forTiles interleaved their scales after the aligned
			// groups). It recomputes one or two vectors of the last group,
			// which is cheaper than two or three one-vector passes over
			// the rows; the recomputed results are the same bits.
			if v >= 4 && n-v >= tailMin {
				dotX4Rows(m.Type, rows, rowBytes, r1-r0, xq, n-4, v, cols, dst[(n-4)*m.Rows+r0:], m.Rows)
				v = n
			}
		}
		for ; v < n; v++ {
			d, qs, sum := j.xq.d[v*nb:(v+1)*nb], j.xq.qs[v*cols:(v+1)*cols], j.xq.sum[v*nb:(v+1)*nb]
			dv := dst[v*m.Rows : (v+1)*m.Rows]
			var c16 []int32 // Q5_0's corrections, where the two-row kernels read them
			if j.xq.forms&formC16 != 0 {
				c16 = j.xq.c16[v*cols/4 : (v+1)*cols/4]
			}
			r := r0 + dotRowPairs(m.Type, m.Data[r0*rowBytes:r1*rowBytes], rowBytes, r1-r0, d, qs, c16, dv[r0:r1])
			for ; r < r1; r++ {
				dv[r] = dot(m.Data[r*rowBytes:(r+1)*rowBytes], d, qs, sum)
			}
		}
	}
}

// ktiles is tiles for the types that take the activations in super-blocks
// of 256 (needsK), with their eight- and four-vector kernels where there
// are such, the same overlapping last group of four, and the dot product
// for the vectors left.
func (t *tiledJob) ktiles(m *Matrix, dst []float32, rowBytes, lo, hi int) {
	j := t.j
	n, cols, k := j.n, m.Cols, &j.xq.k
	for r0 := lo; r0 < hi; r0 += tileRows {
		r1 := min(r0+tileRows, hi)
		rows := m.Data[r0*rowBytes : r1*rowBytes]
		v := 0
		if hasX4(m.Type) {
			if x8Tiles && hasX8(m.Type) {
				for ; v+8 <= n; v += 8 {
					dotKX8Rows(m.Type, rows, rowBytes, r1-r0, k, v, cols, dst[v*m.Rows+r0:], m.Rows)
				}
			}
			for ; v+4 <= n; v += 4 {
				dotKX4Rows(m.Type, rows, rowBytes, r1-r0, k, v, v, cols, dst[v*m.Rows+r0:], m.Rows)
			}
			if v >= 4 && n-v >= tailMin {
				dotKX4Rows(m.Type, rows, rowBytes, r1-r0, k, n-4, v, cols, dst[(n-4)*m.Rows+r0:], m.Rows)
				v = n
			}
		}
		for ; v < n; v++ {
			for r := r0; r < r1; r++ {
				dst[v*m.Rows+r] = k.dot(m.Type, m.Data[r*rowBytes:(r+1)*rowBytes], v, cols)
			}
		}
	}
}

// dotKX4Rows is dotX4Rows for a type that takes super-blocks of 256
// (needsK): nrows rows against vectors v … v+3 of k, cols wide, whose
// interleaved scales are k.d4's group starting at vector s.
func dotKX4Rows(t ggml.Type, rows []byte, rowBytes, nrows int, k *kvec, v, s, cols int, dst []float32, dstStride int) {
	nsb := cols / qkK
	if nrows <= 0 || nsb <= 0 {
		return
	}
	_, _, _, _ = rows[(nrows-1)*rowBytes+readBytes(t, 8*nsb)-1], k.qs[(v+4)*cols-1], k.bs[(v+4)*cols/16-1], k.d4[(s+4)*nsb-1]
	_ = dst[3*dstStride+nrows-1]
	dotKX4RowsArch(t, rows, rowBytes, nrows, k.d4[s*nsb:], k.qs[v*cols:], k.bs[v*cols/16:], nsb, cols, dst, dstStride)
}

// dotKX8Rows is dotKX4Rows for vectors v … v+7 (v a multiple of four, so
// that their scales are two groups of k.d4).
func dotKX8Rows(t ggml.Type, rows []byte, rowBytes, nrows int, k *kvec, v, cols int, dst []float32, dstStride int) {
	nsb := cols / qkK
	if nrows <= 0 || nsb <= 0 {
		return
	}
	_, _, _, _ = rows[(nrows-1)*rowBytes+readBytes(t, 8*nsb)-1], k.qs[(v+8)*cols-1], k.bs[(v+8)*cols/16-1], k.d4[(v+8)*nsb-1]
	_ = dst[7*dstStride+nrows-1]
	dotKX8RowsArch(t, rows, rowBytes, nrows, k.d4[v*nsb:], k.qs[v*cols:], k.bs[v*cols/16:], nsb, cols, dst, dstStride)
}

// x8Tiles turns the eight-vector kernels on; a variable so that a
// benchmark can compare them with the four-vector ones.
var x8Tiles = true

// SetEightVectorTiles turns the eight-vector tiles on or off and reports
// whether they were on, for benchmarks that compare them with the
// four-vector ones in one process (the results are the same bits either
// way). Call it only while no product runs.
func SetEightVectorTiles(on bool) bool {
	was := x8Tiles
	x8Tiles = on
	return was
}

// tailMin is the fewest leftover vectors (beyond a multiple of four) that
// go through an overlapping four-vector tile rather than the one-vector
// dot products. A variable so that a benchmark can compare the two.
var tailMin = 2

// dotX4Rows computes nrows consecutive rows of a 32-element block type t
// (rowBytes apart; hasX4(t) must hold) against vectors v … v+3 of xq, cols
// wide, whose interleaved block scales (forTiles) are d4's group starting
// at vector s, writing row r's result for vector k to dst[r+k·dstStride],
// each exactly as t's dot product computes it. xq must hold the forms
// tileForms(t) names.
func dotX4Rows(t ggml.Type, rows []byte, rowBytes, nrows int, xq *qvec, v, s, cols int, dst []float32, dstStride int) {
	nb := cols / qk
	if nrows <= 0 || nb <= 0 {
		return
	}
	_, _, _ = rows[(nrows-1)*rowBytes+readBytes(t, nb)-1], xq.d4[(s+4)*nb-1], xq.qs[(v+4)*cols-1]
	_ = dst[3*dstStride+nrows-1]
	dotX4RowsArch(t, rows, rowBytes, nrows, xq, v, s, cols, dst, dstStride)
}

// readBytes is how many bytes of a row of nb blocks of type t the tile
// kernels read.
func readBytes(t ggml.Type, nb int) int {
	switch t {
	case ggml.Q8_0:
		return nb * q80Bytes
	case ggml.Q5_0:
		return nb * q50Bytes
	case ggml.Q4_0:
		return nb * q40Bytes
	case ggml.Q4_K, ggml.Q6_K:
		if nb%8 != 0 {
			panic("kernels: " + t.String() + " row of a partial super-block")
		}
		if t == ggml.Q6_K {
			return nb / 8 * q6KBytes
		}
		return nb / 8 * q4KBytes
	}
	return 0
}

// dotX8Rows is dotX4Rows for vectors v … v+7 (v a multiple of four, so
// that their scales are two groups of d4; hasX8(t) must hold). (The
// K-quants' tiles are dotKX4Rows and dotKX8Rows.)
func dotX8Rows(t ggml.Type, rows []byte, rowBytes, nrows int, xq *qvec, v, cols int, dst []float32, dstStride int) {
	nb := cols / qk
	if nrows <= 0 || nb <= 0 {
		return
	}
	_, _, _ = rows[(nrows-1)*rowBytes+readBytes(t, nb)-1], xq.d4[(v+8)*nb-1], xq.qs[(v+8)*cols-1]
	_ = dst[7*dstStride+nrows-1]
	dotX8RowsArch(t, rows, rowBytes, nrows, xq, v, cols, dst, dstStride)
}
