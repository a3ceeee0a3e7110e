package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// TestDotX4Rows checks the four-vector kernels against the dot products
// in use (dotQ80, dotQ50, dotQ40, dotQ4K, dotQ6K): the same bits for every row and vector,
// so batching never changes a sequence's output. Where there are none
// (not amd64, or RUNNEL_NOASM=1), TestMatMulTiled covers the tiles' use
// of the dot products.
func TestDotX4Rows(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q5_0, ggml.Q4_0, ggml.Q4_K, ggml.Q6_K} {
		if !hasX4(typ) {
			t.Skipf("no four-vector kernel for %s here", typ)
		}
		checkTiles(t, r, typ, 4, []int{1, 2, 3, 5, 7, 16}, func(m *Matrix, rowBytes, nrows int, xq *qvec, nb int, dst []float32, stride int) {
			if needsK(typ) {
				dotKX4Rows(typ, m.Data, rowBytes, nrows, &xq.k, 0, 0, m.Cols, dst, stride)
				return
			}
			dotX4Rows(typ, m.Data, rowBytes, nrows, xq, 0, 0, m.Cols, dst, stride)
		})
	}
}

// TestDotX8Rows checks the eight-vector kernels the same way.
func TestDotX8Rows(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	tested := 0
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q5_0, ggml.Q4_0, ggml.Q4_K, ggml.Q6_K} {
		if !hasX8(typ) {
			continue
		}
		tested++
		checkTiles(t, r, typ, 8, []int{1, 2, 3, 5, 16}, x8Kernel(typ))
	}
	if tested == 0 {
		t.Skip("no eight-vector kernel here")
	}
}

// x8Kernel is checkTiles' kernel of typ's eight-vector tiles.
func x8Kernel(typ ggml.Type) func(m *Matrix, rowBytes, nrows int, xq *qvec, nb int, dst []float32, stride int) {
	return func(m *Matrix, rowBytes, nrows int, xq *qvec, nb int, dst []float32, stride int) {
		if needsK(typ) {
			dotKX8Rows(typ, m.Data, rowBytes, nrows, &xq.k, 0, m.Cols, dst, stride)
			return
		}
		dotX8Rows(typ, m.Data, rowBytes, nrows, xq, 0, m.Cols, dst, stride)
	}
}

// checkTiles runs a tile kernel of nvec vectors (kernel writes row r's
// result for vector k to dst[r+k·stride]) over random rows of typ and
// compares every result with typ's dot product, bit for bit, and checks
// that nothing outside the rows was written.
func checkTiles(t *testing.T, r *rand.Rand, typ ggml.Type, nvec int, rowCounts []int, kernel func(m *Matrix, rowBytes, nrows int, xq *qvec, nb int, dst []float32, stride int)) {
	t.Helper()
	for _, nb := range []int{1, 2, 3, 8, 9, 24, 64, 72, 136} { // K-quant rows of 1, 3, 8, 9, 17 super-blocks
		if (typ == ggml.Q4_K || typ == ggml.Q6_K) && nb%8 != 0 {
			continue
		}
		for _, nrows := range rowCounts {
			m := randMatrix(r, typ, nrows, nb*qk)
			cols, rowBytes := m.Cols, len(m.Data)/nrows
			var xq qvec
			xq.quantizeFor(typ, randVec(r, nvec*cols, 2), cols, true)
			stride := nrows + 5
			dst := make([]float32, nvec*stride)
			kernel(m, rowBytes, nrows, &xq, nb, dst, stride)
			for row := range nrows {
				w := m.Data[row*rowBytes : (row+1)*rowBytes]
				for k := range nvec {
					want := xq.rowDot(typ, w, k, cols)
					if got := dst[k*stride+row]; math.Float32bits(got) != math.Float32bits(want) {
						t.Errorf("%s nb=%d row %d/%d vector %d of %d: tile %v, dot %v", typ, nb, row, nrows, k, nvec, got, want)
					}
				}
			}
			for i, v := range dst {
				if i%stride >= nrows && v != 0 {
					t.Fatalf("%s nb=%d nrows=%d: wrote dst[%d] outside the rows", typ, nb, nrows, i)
				}
			}
		}
	}
}

// TestMatMulTiled checks that the tiled product gives MatMul's results bit
// for bit, for every kernel type, across row counts that are not multiples
// of the tile and vector counts around the four-vector groups, inline and
// spread over the pool.
func TestMatMulTiled(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	types := []ggml.Type{ggml.F32, ggml.F16, ggml.Q8_0, ggml.Q4_0, ggml.Q5_0, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.Q3_K}
	for _, typ := range types {
		for _, shape := range [][2]int{{7, 256}, {37, 512}, {300, 768}, {19, 2048}} { // 2048: Q5_0's unsigned tile
			m := randMatrix(r, typ, shape[0], shape[1])
			for _, n := range []int{1, 3, 4, 5, 6, 7, 8, 10, 11, 13} {
				x := randVec(r, n*m.Cols, 1)
				want, got := make([]float32, n*m.Rows), make([]float32, n*m.Rows)
				MatMul(want, m, x, n)
				MatMulTiled(got, m, x, n)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %v n=%d: output %d (vector %d, row %d) tiled %v, MatMul %v",
							typ, shape, n, i, i/m.Rows, i%m.Rows, got[i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkMatMulTiled(b *testing.B) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, c := range []struct {
		typ        ggml.Type
		rows, cols int
	}{{ggml.Q8_0, 2048, 2048}, {ggml.Q4_K, 2048, 2048}, {ggml.Q6_K, 2048, 2048}, {ggml.Q8_0, 768, 288}, {ggml.Q5_0, 768, 288}} {
		typ := c.typ
		m := randMatrix(r, typ, c.rows, c.cols)
		for _, n := range []int{8, 128} {
			x := randVec(r, n*m.Cols, 1)
			dst := make([]float32, n*m.Rows)
			for _, f := range []struct {
				name string
				mul  func([]float32, *Matrix, []float32, int)
			}{{"MatMul", MatMul}, {"Tiled", MatMulTiled}} {
				b.Run(fmt.Sprintf("%s/%dx%d/n=%d/%s", typ, c.rows, c.cols, n, f.name), func(b *testing.B) {
					for b.Loop() {
						f.mul(dst, m, x, n)
					}
					b.ReportMetric(float64(b.N*m.Rows*m.Cols*n)/b.Elapsed().Seconds()/1e9, "Gmac/s")
				})
			}
		}
	}
}

// TestMatMulActs checks that products sharing one Acts give MatMul's
// results, and that Set and a product of another width requantize.
func TestMatMulActs(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	const n = 6
	mats := []*Matrix{randMatrix(r, ggml.Q8_0, 9, 256), randMatrix(r, ggml.Q4_K, 13, 256),
		randMatrix(r, ggml.F32, 5, 256), randMatrix(r, ggml.Q6_K, 11, 512), randMatrix(r, ggml.Q5_0, 7, 256)}
	var a Acts
	x := randVec(r, n*512, 1)
	for round := range 2 {
		a.Set(x, n)
		for i, m := range mats {
			want, got := make([]float32, n*m.Rows), make([]float32, n*m.Rows)
			MatMul(want, m, x, n)
			MatMulActs(got, m, &a)
			for k := range want {
				if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
					t.Fatalf("round %d matrix %d (%s %d×%d): output %d: %v, MatMul %v", round, i, m.Type, m.Rows, m.Cols, k, got[k], want[k])
				}
			}
		}
		x = randVec(r, n*512, 1) // Set must drop the old quantization
	}
}

// TestMatMulActsFused checks that fused products (queries, keys and
// values; gate and up with the activation) give the bits of the products
// one at a time and of one activation call over all rows, inline and
// spread over the pool in chunks that cut across the products, for mixed
// types and vector counts around the tiles' groups; and that a gated
// product that cannot be fused bit for bit is refused.
func TestMatMulActsFused(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	old := parallelMin
	defer func() { parallelMin = old }()
	silu := func(g, u []float32) { SiLUMul(g, u) }
	for _, pm := range []int{math.MaxInt, 0} {
		parallelMin = pm
		for _, c := range []struct {
			q, k, v ggml.Type
			rows    [3]int
			cols    int
		}{
			{ggml.Q8_0, ggml.Q8_0, ggml.Q8_0, [3]int{288, 288, 288}, 288},
			{ggml.Q5_0, ggml.Q5_0, ggml.Q8_0, [3]int{96, 32, 32}, 256},
			{ggml.Q4_K, ggml.Q4_K, ggml.Q6_K, [3]int{40, 24, 24}, 512},
		} {
			ts := [3]ggml.Type{c.q, c.k, c.v}
			var ms [3]*Matrix
			for i := range ms {
				ms[i] = randMatrix(r, ts[i], c.rows[i], c.cols)
			}
			for _, n := range []int{1, 2, 3, 4, 5, 8, 9} {
				x := randVec(r, n*c.cols, 1)
				var a Acts
				a.Set(x, n)
				var got [3][]float32
				for i := range got {
					got[i] = make([]float32, n*c.rows[i])
				}
				MatMulActsFused(&a, got, ms)
				for i, m := range ms {
					want := make([]float32, n*m.Rows)
					MatMul(want, m, x, n)
					sameBits(t, fmt.Sprintf("fused %s %d×%d n=%d parallelMin=%d", m.Type, m.Rows, m.Cols, n, pm), got[i], want)
				}

				gate, up := ms[0], randMatrix(r, c.q, c.rows[0], c.cols)
				g, u := make([]float32, n*gate.Rows), make([]float32, n*gate.Rows)
				a.Set(x, n)
				if !MatMulActsGated(g, gate, u, up, &a, silu) {
					t.Fatalf("gated %s %d×%d n=%d not fused", gate.Type, gate.Rows, gate.Cols, n)
				}
				wg, wu := make([]float32, n*gate.Rows), make([]float32, n*gate.Rows)
				MatMul(wg, gate, x, n)
				MatMul(wu, up, x, n)
				SiLUMul(wg, wu)
				sameBits(t, fmt.Sprintf("gated %s n=%d parallelMin=%d: up", gate.Type, n, pm), u, wu)
				sameBits(t, fmt.Sprintf("gated %s n=%d parallelMin=%d: gate", gate.Type, n, pm), g, wg)
			}
		}
	}
	r2 := randMatrix(r, ggml.Q8_0, 36, 256) // rows not a multiple of 8
	var a Acts
	a.Set(randVec(r, 256, 1), 1)
	if MatMulActsGated(make([]float32, 36), r2, make([]float32, 36), r2, &a, silu) {
		t.Fatal("gated product of 36 rows fused")
	}
	f32 := randMatrix(r, ggml.F32, 32, 256)
	if MatMulActsGated(make([]float32, 32), f32, make([]float32, 32), f32, &a, silu) {
		t.Fatal("gated f32 product fused")
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: output %d: %v, want %v", what, i, got[i], want[i])
		}
	}
}
