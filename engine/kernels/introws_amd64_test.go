package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// TestDotRowPairsBuilds runs TestDotRowPairs on the build the default
// skips: the AVX2 kernels on a VNNI machine.
func TestDotRowPairsBuilds(t *testing.T) {
	if !useVNNI {
		t.Skip("no AVX-512 VNNI here: TestDotRowPairs already runs the AVX2 kernels")
	}
	useVNNI = false
	defer func() { useVNNI = true }()
	t.Run("NoVNNI", TestDotRowPairs)
}

// TestIntBuildsAgree checks that the VNNI one-row kernels give the AVX2
// ones' bits, not merely values within the portable path's tolerance:
// their integer sums are exact in both, so only the float operations'
// order could differ, and it must not (a product's result would then
// depend on the machine, and the row pairs would differ from one build).
func TestIntBuildsAgree(t *testing.T) {
	if !useVNNI {
		t.Skip("no AVX-512 VNNI here")
	}
	defer func() { useVNNI = true }()
	r := rand.New(rand.NewPCG(45, 46))
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q4_0, ggml.Q5_0, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K} {
		for _, nb := range []int{1, 3, 8, 9, 16, 24, 64, 72, 136} {
			if nb%8 != 0 && (typ == ggml.Q4_K || typ == ggml.Q5_K || typ == ggml.Q6_K) {
				continue // whole super-blocks only
			}
			for _, scale := range []float32{1, 1e-3, 40} {
				m := randMatrix(r, typ, 3, nb*qk)
				rb := len(m.Data) / 3
				var xq qvec
				xq.quantizeFor(typ, randVec(r, m.Cols, scale), m.Cols, false)
				for row := range 3 {
					w := m.Data[row*rb : (row+1)*rb]
					useVNNI = true
					v := xq.rowDot(typ, w, 0, m.Cols)
					useVNNI = false
					a := xq.rowDot(typ, w, 0, m.Cols)
					if math.Float32bits(v) != math.Float32bits(a) {
						t.Errorf("%s nb=%d scale %g row %d: VNNI %v, AVX2 %v", typ, nb, scale, row, v, a)
					}
				}
			}
		}
	}
}

// BenchmarkDotBuilds measures one vector's product with 2048-wide rows
// (Llama-3.2-1B's) per weight type, in one goroutine, through the AVX2
// and the VNNI builds, one row at a time and through dotRowPairs where
// the type has pairs: 512 rows (in the caches, 64 products a pass, which
// the CPU clock's granularity needs) and 32768 (from memory). Every
// iteration runs each variant once, in an order rotated per
// iteration, each pass timed in CPU time; it reports each variant's rate
// (median GB/s of weights) and the median per-iteration ratio of the
// VNNI build's fastest variant to the AVX2 build's one-row kernel, the
// baseline that makes two binaries comparable.
func BenchmarkDotBuilds(b *testing.B) {
	if !useVNNI {
		b.Skip("no AVX-512 VNNI here")
	}
	defer func() { useVNNI = true }()
	defer SetRowPairs(SetRowPairs(true))
	r := rand.New(rand.NewPCG(47, 48))
	const cols = 2048
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q5_0, ggml.Q4_K, ggml.Q6_K} {
		for _, rows := range []int{512, 32768} {
			m := randMatrix(r, typ, rows, cols)
			rb := len(m.Data) / rows
			var xq qvec
			xq.quantizeFor(typ, randVec(r, cols, 1), cols, true)
			dst := make([]float32, rows)
			reps := 32768 / rows
			pass := func(vnni, pairs bool) float64 {
				useVNNI = vnni // dotFor's kernels look at it on every call
				return productPass(typ, m, &xq, dst, pairs, reps)
			}
			type variant struct {
				name        string
				vnni, pairs bool
			}
			vs := []variant{{"avx2-row", false, false}, {"vnni-row", true, false}}
			if dotRowPairs(typ, m.Data, rb, 2, xq.d, xq.qs, xq.c16, dst) > 0 {
				vs = append(vs, variant{"avx2-pairs", false, true}, variant{"vnni-pairs", true, true})
			}
			b.Run(fmt.Sprintf("%s/%d", typ, rows), func(b *testing.B) {
				secs := make([][]float64, len(vs))
				var ratio []float64
				for it := 0; b.Loop(); it++ {
					t := make([]float64, len(vs))
					for k := range vs {
						i := (k + it) % len(vs)
						t[i] = pass(vs[i].vnni, vs[i].pairs)
						secs[i] = append(secs[i], t[i])
					}
					best := t[1]
					if len(vs) > 3 {
						best = min(best, t[3])
					}
					ratio = append(ratio, t[0]/best)
				}
				for i, v := range vs {
					b.ReportMetric(float64(reps*len(m.Data))/median(secs[i])/1e9, v.name+"-GB/s")
				}
				b.ReportMetric(median(ratio), "vnni/avx2-row")
			})
		}
	}
}
