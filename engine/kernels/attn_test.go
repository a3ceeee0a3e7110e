package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionRows checks DotRows and AxpyRows against float64 sums, and
// that a row's result does not depend on the call it is in: rows walked
// in tiles of any size give the bits of one call over them all.
func TestAttentionRows(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, cols := range []int{2, 8, 12, 48, 64, 72, 96, 112, 128, 176} {
		for _, n := range []int{1, 3, 4, 5, 9, 70} {
			stride := cols + 16
			rows, x := randVec(r, n*stride, 1), randVec(r, cols, 1)
			whole := make([]float32, n)
			DotRows(whole, x, rows, stride)
			for i := range n {
				var want, mag float64
				for c := range cols {
					p := float64(x[c]) * float64(rows[i*stride+c])
					want, mag = want+p, mag+math.Abs(p)
				}
				if math.Abs(float64(whole[i])-want) > mag*float64(cols+8)*0x1p-23 {
					t.Fatalf("DotRows cols=%d n=%d row %d: %v, want %v", cols, n, i, whole[i], want)
				}
			}
			y0 := randVec(r, cols, 1)
			a := randVec(r, n, 1)
			y := append([]float32(nil), y0...)
			AxpyRows(y, a, rows, stride)
			for c := range cols {
				want, mag := float64(y0[c]), math.Abs(float64(y0[c]))
				for i := range n {
					p := float64(a[i]) * float64(rows[i*stride+c])
					want, mag = want+p, mag+math.Abs(p)
				}
				if math.Abs(float64(y[c])-want) > mag*float64(n+8)*0x1p-23 {
					t.Fatalf("AxpyRows cols=%d n=%d column %d: %v, want %v", cols, n, c, y[c], want)
				}
			}
			for _, tile := range []int{1, 2, 3, 5} {
				what := fmt.Sprintf("cols=%d n=%d tiles of %d", cols, n, tile)
				parts := make([]float32, n)
				yt := append([]float32(nil), y0...)
				for t0 := 0; t0 < n; t0 += tile {
					t1 := min(t0+tile, n)
					DotRows(parts[t0:t1], x, rows[t0*stride:], stride)
					AxpyRows(yt, a[t0:t1], rows[t0*stride:], stride)
				}
				for i := range n {
					if math.Float32bits(parts[i]) != math.Float32bits(whole[i]) {
						t.Fatalf("DotRows %s: row %d %v, whole %v", what, i, parts[i], whole[i])
					}
				}
				for c := range cols {
					if math.Float32bits(yt[c]) != math.Float32bits(y[c]) {
						t.Fatalf("AxpyRows %s: column %d %v, whole %v", what, c, yt[c], y[c])
					}
				}
			}
		}
	}
}
