package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// TestDotRowPairs checks the two-row kernels against the one-row dot
// products in use, bit for bit, so that MatVec's results do not depend on
// whether a row went through one or the other.
func TestDotRowPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q5_0} {
		dot := dotFor(typ)
		checkTiles(t, r, typ, 1, []int{1, 2, 3, 5, 16}, func(m *Matrix, rowBytes, nrows int, xq *qvec, nb int, dst []float32, _ int) {
			done := dotRowPairs(typ, m.Data, rowBytes, nrows, xq.d[:nb], xq.qs[:m.Cols], xq.c16[:m.Cols/4], dst[:nrows])
			if want := nrows &^ 1; hasAVX2 && !useVNNI && done != want {
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
// (its output matrix, from memory).
func BenchmarkDotRowPairs(b *testing.B) {
	r := rand.New(rand.NewPCG(43, 44))
	const cols = 896
	for _, c := range []struct {
		typ  ggml.Type
		rows int
	}{{ggml.Q8_0, 4864}, {ggml.Q5_0, 4864}, {ggml.Q8_0, 151936}, {ggml.Q5_0, 151936}} {
		typ, rows := c.typ, c.rows
		m := randMatrix(r, typ, rows, cols)
		rb := len(m.Data) / rows
		var xq qvec
		xq.quantize(randVec(r, cols, 1))
		xq.forTiles(cols / qk)
		dst := make([]float32, rows)
		dot := dotFor(typ)
		for _, pairs := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/%d/pairs=%v", typ, rows, pairs), func(b *testing.B) {
				for b.Loop() {
					i := 0
					if pairs {
						i = dotRowPairs(typ, m.Data, rb, rows, xq.d, xq.qs, xq.c16, dst)
					}
					for ; i < rows; i++ {
						dst[i] = dot(m.Data[i*rb:(i+1)*rb], xq.d, xq.qs, xq.sum)
					}
				}
				b.ReportMetric(float64(len(m.Data))/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GB/s")
			})
		}
	}
}
