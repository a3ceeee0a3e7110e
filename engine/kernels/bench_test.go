package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/internal/cputime"
)

// BenchmarkMatMul covers stories15M's matrix shapes (rows×cols) at batch 1
// (one decoding stream) and 8 (eight batched streams). It reports GFLOP/s
// (2 flops per weight per vector) and weight bandwidth in GB/s.
func BenchmarkMatMul(b *testing.B) {
	shapes := [][2]int{{288, 288}, {768, 288}, {288, 768}, {32000, 288}}
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range allTypes {
		for _, s := range shapes {
			rows, cols := s[0], s[1]
			elems, _ := typ.BlockSize()
			if cols%elems != 0 {
				continue // 288 is not a whole number of 256-element K-quant blocks
			}
			var m *Matrix // built on first use, so -bench filters skip the setup
			for _, n := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/%dx%d/n%d", typ, rows, cols, n), func(b *testing.B) {
					if m == nil {
						m = randMatrix(r, typ, rows, cols)
					}
					x := randVec(r, n*cols, 1)
					dst := make([]float32, n*rows)
					b.ReportAllocs()
					for b.Loop() {
						MatMul(dst, m, x, n)
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(2*float64(rows*cols*n)/sec/1e9, "GFLOP/s")
					bytes := len(m.Data)
					if bytes == 0 {
						bytes = 4 * len(m.F32)
					}
					b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
				})
			}
		}
	}
}

// BenchmarkMatMulKQuant uses a width that K-quants can hold (256).
func BenchmarkMatMulKQuant(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, typ := range allTypes {
		m := randMatrix(r, typ, 4096, 1024)
		x := randVec(r, 1024, 1)
		dst := make([]float32, 4096)
		b.Run(typ.String(), func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				MatVec(dst, m, x)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(2*float64(4096*1024)/sec/1e9, "GFLOP/s")
			// CPU time too: on a loaded machine the wall time measures
			// the share of the cores the run got, not the kernel.
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkMatVecThreshold times small f32 products inline and on the pool;
// parallelMin is set where the pool starts to win.
func BenchmarkMatVecThreshold(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range [][2]int{{64, 64}, {172, 64}, {512, 64}, {128, 128}, {256, 128}, {288, 288}, {768, 288}} {
		m := randMatrix(r, allTypes[0], s[0], s[1])
		x := randVec(r, s[1], 1)
		dst := make([]float32, s[0])
		for _, mode := range []string{"inline", "pool"} {
			b.Run(fmt.Sprintf("%dx%d/%s", s[0], s[1], mode), func(b *testing.B) {
				old := parallelMin
				if mode == "inline" {
					parallelMin = math.MaxInt
				} else {
					parallelMin = 0
				}
				defer func() { parallelMin = old }()
				for b.Loop() {
					MatVec(dst, m, x)
				}
			})
		}
	}
}

func BenchmarkSoftmax256(b *testing.B) {
	x := randVec(rand.New(rand.NewPCG(1, 1)), 256, 3)
	y := make([]float32, 256)
	for b.Loop() {
		copy(y, x)
		Softmax(y)
	}
}

// BenchmarkQuantizeQ8 quantizes a 4096-wide activation vector with the
// kernel in use and with the portable one.
func BenchmarkQuantizeQ8(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 14))
	x := randVec(r, 4096, 1)
	d, qs, sum := make([]float32, 128), make([]int8, 4096), make([]int32, 128)
	for _, k := range []struct {
		name string
		f    func([]float32, []int8, []int32, []float32)
	}{{"inuse", quantizeQ8}, {"portable", quantizeQ8Go}} {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				k.f(d, qs, sum, x)
			}
		})
	}
}

// BenchmarkTiledTail compares the leftover vectors of a tiled product
// (n not a multiple of four) through the overlapping four-vector tile
// (tail=x4) and through the one-vector dot products (tail=dot), on one
// core, on 15M-shape and 1B-shape widths.
func BenchmarkTiledTail(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 14))
	defer func(t int) { tailMin = t }(tailMin)
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q4_K, ggml.Q6_K} {
		for _, s := range [][2]int{{768, 512}, {2048, 2048}} {
			m := randMatrix(r, typ, s[0], s[1])
			for _, n := range []int{5, 6, 7} {
				x := randVec(r, n*m.Cols, 1)
				dst := make([]float32, n*m.Rows)
				for _, tail := range []struct {
					name string
					min  int
				}{{"x4", 2}, {"dot", 4}} {
					b.Run(fmt.Sprintf("%s/%dx%d/n%d/tail=%s", typ, s[0], s[1], n, tail.name), func(b *testing.B) {
						tailMin = tail.min
						for b.Loop() {
							MatMulTiled(dst, m, x, n)
						}
					})
				}
			}
		}
	}
}

// BenchmarkTilesX8 compares the eight-vector tiles with the four-vector
// ones on the types that have both, at the shapes of batched decode (n=8)
// and of a prompt (n=128): Qwen2.5-0.5B's 896-wide Q5_0 and Q8_0
// matrices, Llama-3.2-1B's 2048- and 8192-wide Q6_K and Q4_K ones. On a machine
// other jobs load, separate runs differ by more than the kernels do, so
// each of b.N rounds times a few products with each kernel back to back
// (in ABBA order) in CPU time, and the benchmark reports the median over
// rounds of their ratio (x4/x8: above 1, the eight-vector tile is faster)
// besides each kernel's median CPU time per product.
func BenchmarkTilesX8(b *testing.B) {
	r := rand.New(rand.NewPCG(15, 16))
	defer func(on bool) { x8Tiles = on }(x8Tiles)
	for _, c := range x8Shapes {
		m := randMatrix(r, c.typ, c.rows, c.cols)
		for _, n := range []int{8, 128} {
			x := randVec(r, n*m.Cols, 1)
			dst := make([]float32, n*m.Rows)
			reps := max(1, 8*2048*2048/(m.Rows*m.Cols*n)) // about 10 ms a kernel a round
			b.Run(fmt.Sprintf("%s/%dx%d/n=%d", c.typ, c.rows, c.cols, n), func(b *testing.B) {
				var t4, t8, ratio []float64
				timed := func(on bool) float64 {
					x8Tiles = on
					start := cputime.Process()
					for range reps {
						MatMulTiled(dst, m, x, n)
					}
					return float64(cputime.Process()-start) / float64(reps)
				}
				for b.Loop() {
					a4, a8 := timed(false), timed(true)
					b8, b4 := timed(true), timed(false)
					t4, t8 = append(t4, (a4+b4)/2), append(t8, (a8+b8)/2)
					ratio = append(ratio, (a4+b4)/(a8+b8))
				}
				b.ReportMetric(median(t4), "x4-cpu-ns/op")
				b.ReportMetric(median(t8), "x8-cpu-ns/op")
				b.ReportMetric(median(ratio), "x4/x8")
			})
		}
	}
}

// x8Shapes are the matrices the tile benchmarks time: Qwen2.5-0.5B's
// 896- and 4864-wide Q5_0 and Q8_0 ones, Llama-3.2-1B's 2048- and
// 8192-wide Q6_K, Q4_K and Q8_0 ones, and a 2048-wide Q5_0 one between.
var x8Shapes = []struct {
	typ        ggml.Type
	rows, cols int
}{{ggml.Q5_0, 4864, 896}, {ggml.Q8_0, 4864, 896}, {ggml.Q6_K, 2048, 2048}, {ggml.Q6_K, 2048, 8192},
	{ggml.Q4_K, 2048, 2048}, {ggml.Q4_K, 8192, 2048}, {ggml.Q4_K, 2048, 8192},
	{ggml.Q8_0, 2048, 2048}, {ggml.Q8_0, 8192, 2048}, {ggml.Q8_0, 2048, 8192},
	{ggml.Q5_0, 896, 4864}, {ggml.Q8_0, 896, 4864}, {ggml.Q5_0, 2048, 2048}}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkAxpyRows is attention's weighted sum of values for one head
// (head sizes 48, 64 and 128) over 128 cached positions.
func BenchmarkAxpyRows(b *testing.B) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, hs := range []int{48, 64, 128} {
		const n = 128
		stride := 6 * hs
		rows, a, y := randVec(r, n*stride, 1), randVec(r, n, 1), make([]float32, hs)
		b.Run(fmt.Sprintf("hs%d", hs), func(b *testing.B) {
			for b.Loop() {
				AxpyRows(y, a, rows, stride)
			}
		})
	}
}
