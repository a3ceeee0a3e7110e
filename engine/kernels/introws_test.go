package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/internal/cputime"
)

// TestDotRowPairs checks the two-row kernels against the one-row dot
// products in use, bit for bit, so that MatVec's results do not depend on
// whether a row went through one or the other.
func TestDotRowPairs(t *testing.T) {
	defer SetRowPairs(SetRowPairs(true))
	r := rand.New(rand.NewPCG(41, 42))
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q5_0} {
		dot := dotFor(typ)
		checkTiles(t, r, typ, 1, []int{1, 2, 3, 5, 16}, func(m *Matrix, rowBytes, nrows int, xq *qvec, nb int, dst []float32, _ int) {
			var c16 []int32 // Q5_0's, made where its two-row kernels read them
			if xq.forms&formC16 != 0 {
				c16 = xq.c16[:m.Cols/4]
			}
			done := dotRowPairs(typ, m.Data, rowBytes, nrows, xq.d[:nb], xq.qs[:m.Cols], c16, dst[:nrows])
			if want := nrows &^ 1; rowPairs() && done != want {
				t.Fatalf("%s: %d of %d rows in pairs, want %d", typ, done, nrows, want)
			}
			for i := done; i < nrows; i++ {
				dst[i] = dot(m.Data[i*rowBytes:(i+1)*rowBytes], xq.d[:nb], xq.qs[:m.Cols], xq.sum[:nb])
			}
		})
	}
}

// BenchmarkDotRowPairs compares one vector's product with Qwen2.5-0.5B's
// 896-wide rows through the two-row kernels and through the one-row ones,
// in one goroutine: 4864 rows (its FFN's gate, in the caches) and 151936
// (its output matrix, from memory). The two alternate within each
// iteration (ABBA), each pass timed in CPU time: on a shared machine
// whose speed swings between seconds, the median of the per-iteration
// ratios pairs ÷ one-row says more than two runs one after the other. It
// reports both rates (medians) and that ratio; the one-row kernel is the
// baseline that makes two builds of the pairs comparable.
func BenchmarkDotRowPairs(b *testing.B) {
	defer SetRowPairs(SetRowPairs(true))
	r := rand.New(rand.NewPCG(43, 44))
	const cols = 896
	for _, c := range []struct {
		typ  ggml.Type
		rows int
	}{{ggml.Q8_0, 4864}, {ggml.Q5_0, 4864}, {ggml.Q8_0, 151936}, {ggml.Q5_0, 151936}} {
		typ, rows := c.typ, c.rows
		m := randMatrix(r, typ, rows, cols)
		var xq qvec
		xq.quantize(randVec(r, cols, 1))
		xq.forTiles(typ, cols/qk)
		dst := make([]float32, rows)
		pass := func(pairs bool) float64 { return productPass(typ, m, &xq, dst, pairs, 1) }
		b.Run(fmt.Sprintf("%s/%d", typ, rows), func(b *testing.B) {
			var one, two, ratio []float64
			for b.Loop() {
				o1, p1 := pass(false), pass(true)
				p2, o2 := pass(true), pass(false)
				one, two = append(one, o1, o2), append(two, p1, p2)
				ratio = append(ratio, (o1+o2)/(p1+p2))
			}
			gb := func(s []float64) float64 { return float64(len(m.Data)) / median(s) / 1e9 }
			b.ReportMetric(gb(one), "one-row-GB/s")
			b.ReportMetric(gb(two), "pairs-GB/s")
			b.ReportMetric(median(ratio), "pairs/one-row")
		})
	}
}

// productPass computes reps times m's product with the quantized vector
// xq into dst, one row at a time or through dotRowPairs, and returns the
// CPU seconds it took.
func productPass(typ ggml.Type, m *Matrix, xq *qvec, dst []float32, pairs bool, reps int) float64 {
	rb := len(m.Data) / m.Rows
	start := cputime.Process()
	for range reps {
		i := 0
		if pairs {
			i = dotRowPairs(typ, m.Data, rb, m.Rows, xq.d, xq.qs, xq.c16, dst)
		}
		for ; i < m.Rows; i++ {
			dst[i] = xq.rowDot(typ, m.Data[i*rb:(i+1)*rb], 0, m.Cols)
		}
	}
	return (cputime.Process() - start).Seconds()
}
