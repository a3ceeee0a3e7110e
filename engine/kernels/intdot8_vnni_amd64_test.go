package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/internal/cputime"
)

// TestDotX8RowsWide checks the VNNI build's Q8_0 tile with per-vector
// corrections (unsignedTiles off; TestDotX8Rows checks the unsigned one),
// and rows wider than x8MaxCols, which that setting gives to two
// four-vector tiles (and Q6_K's, whose tile takes rows of any width,
// with the limit at 0).
func TestDotX8RowsWide(t *testing.T) {
	if !hasX8(ggml.Q8_0) {
		t.Skip("no eight-vector kernel here")
	}
	defer func(c int, u bool) { x8MaxCols, unsignedTiles = c, u }(x8MaxCols, unsignedTiles)
	unsignedTiles = false
	r := rand.New(rand.NewPCG(33, 34))
	checkTiles(t, r, ggml.Q8_0, 8, []int{1, 3, 16}, x8Kernel(ggml.Q8_0))
	x8MaxCols = 0
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q6_K} {
		checkTiles(t, r, typ, 8, []int{1, 3, 16}, x8Kernel(typ))
	}
}

// BenchmarkTilesVNNI compares, on a VNNI machine, the tiles of a batched
// product in five settings: the VNNI build's eight-vector tiles (x8), its
// four-vector ones (x4), the AVX2 build's eight-vector ones (avx2) and,
// for Q8_0 and Q5_0, the VNNI tiles with per-vector corrections instead
// of unsigned activations, eight-vector (x8corr, with x8MaxCols) and
// four-vector (x4corr), at n=8 (batched decode) and n=128 (a prompt).
// Each of b.N rounds times a few products in each setting, in one order
// and then the reverse, in CPU time; it reports each setting's median CPU
// time per product and the medians of the ratios x4/x8, avx2/x8,
// x8corr/x8 and x4corr/x4 (above 1: the second is faster).
func BenchmarkTilesVNNI(b *testing.B) {
	if !useVNNI {
		b.Skip("no AVX-512 VNNI here")
	}
	r := rand.New(rand.NewPCG(15, 16))
	defer func(on, u bool) { x8Tiles, useVNNI, unsignedTiles = on, true, u }(x8Tiles, unsignedTiles)
	settings := []struct {
		name            string
		vnni, x8, unsig bool
	}{{"x8", true, true, true}, {"x4", true, false, true}, {"avx2", false, true, true}, {"x8corr", true, true, false}, {"x4corr", true, false, false}}
	for _, c := range x8Shapes {
		m := randMatrix(r, c.typ, c.rows, c.cols)
		for _, n := range []int{8, 128} {
			x := randVec(r, n*m.Cols, 1)
			dst := make([]float32, n*m.Rows)
			reps := max(1, 8*2048*2048/(m.Rows*m.Cols*n))
			b.Run(fmt.Sprintf("%s/%dx%d/n=%d", c.typ, c.rows, c.cols, n), func(b *testing.B) {
				times := make([][]float64, len(settings))
				timed := func(i int) float64 {
					useVNNI, x8Tiles, unsignedTiles = settings[i].vnni, settings[i].x8, settings[i].unsig
					start := cputime.Process()
					for range reps {
						MatMulTiled(dst, m, x, n)
					}
					return float64(cputime.Process()-start) / float64(reps)
				}
				var r4, ra, rc, r4c []float64
				for b.Loop() {
					t := make([]float64, len(settings))
					for i := range settings {
						t[i] += timed(i)
					}
					for i := len(settings) - 1; i >= 0; i-- {
						t[i] += timed(i)
					}
					for i := range settings {
						times[i] = append(times[i], t[i]/2)
					}
					r4, ra, rc, r4c = append(r4, t[1]/t[0]), append(ra, t[2]/t[0]), append(rc, t[3]/t[0]), append(r4c, t[4]/t[1])
				}
				for i, s := range settings {
					b.ReportMetric(median(times[i]), s.name+"-cpu-ns/op")
				}
				b.ReportMetric(median(r4), "x4/x8")
				b.ReportMetric(median(ra), "avx2/x8")
				b.ReportMetric(median(rc), "x8corr/x8")
				b.ReportMetric(median(r4c), "x4corr/x4")
			})
		}
	}
}
