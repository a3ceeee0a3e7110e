package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// softmaxPlain is Softmax after scaling as plain loops, one value at a
// time: what ScaledSoftmax and Softmax computed before their vector
// passes.
func softmaxPlain(x []float32, scale float32) {
	for i := range x {
		x[i] *= scale
	}
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	inv := 1 / expSum(x, mx)
	for i := range x {
		x[i] *= inv
	}
}

// TestScaledSoftmaxMatchesPlain checks ScaledSoftmax (and Softmax, scale
// 1) against softmaxPlain bit for bit, on lengths around the vector
// passes' eight values, with ties, signed zeros and very negative scores.
func TestScaledSoftmaxMatchesPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for n := 1; n <= 140; n++ {
		for trial := range 40 {
			x := make([]float32, n)
			for i := range x {
				switch trial % 4 {
				case 0:
					x[i] = float32(r.IntN(3)) - 1 // ties
				case 1:
					x[i] = float32(math.Copysign(0, float64(r.IntN(2)-1))) // signed zeros
				case 2:
					x[i] = float32(r.NormFloat64() * 40) // scores that underflow
				default:
					x[i] = float32(r.NormFloat64() * 4)
				}
			}
			for _, scale := range []float32{1, 0.144337567, 3} {
				got, want := slices.Clone(x), slices.Clone(x)
				if scale == 1 {
					Softmax(got)
				} else {
					ScaledSoftmax(got, scale)
				}
				softmaxPlain(want, scale)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d scale %v: value %d is %v, plain %v (input %v)", n, scale, i, got[i], want[i], x)
					}
				}
			}
		}
	}
}
