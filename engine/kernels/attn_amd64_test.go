package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAxpyRowsPanels checks that whatever panels a width is cut into (48,
// 32 and 8 columns), each column of AxpyRows is the chain of fused
// multiply-adds over the rows in order, as with 8-column panels alone:
// the panel widths are a speed choice and change no bit.
func TestAxpyRowsPanels(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 here")
	}
	r := rand.New(rand.NewPCG(33, 34))
	for _, cols := range []int{8, 40, 48, 56, 64, 96, 112, 128, 176, 256} {
		for _, n := range []int{1, 2, 7, 64} {
			stride := cols + 8
			rows, a, y := randVec(r, n*stride, 1), randVec(r, n, 1), randVec(r, cols, 1)
			// float32 FMA via float64: the product is exact there; the
			// seeds are fixed, so a rare double rounding cannot flake.
			want := append([]float32(nil), y...)
			for c := range cols {
				for i := range n {
					want[c] = float32(math.FMA(float64(a[i]), float64(rows[i*stride+c]), float64(want[c])))
				}
			}
			AxpyRows(y, a, rows, stride)
			for c := range cols {
				if math.Float32bits(y[c]) != math.Float32bits(want[c]) {
					t.Fatalf("cols=%d n=%d column %d: %v, FMA chain %v", cols, n, c, y[c], want[c])
				}
			}
		}
	}
}
