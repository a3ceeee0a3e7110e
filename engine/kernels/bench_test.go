package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
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
			for b.Loop() {
				MatVec(dst, m, x)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(2*float64(4096*1024)/sec/1e9, "GFLOP/s")
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
