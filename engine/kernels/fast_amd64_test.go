package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// TestFastMatchesPortable checks the kernels in use (assembly where the CPU
// has it) against the portable Go ones on random data with awkward sizes.
// Integer parts are exact in both, so only float summation order differs:
// the tolerance is a few ulps of Σ|terms| per element.
func TestFastMatchesPortable(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no fast path on this CPU; the portable kernels are in use")
	}
	testFastMatchesPortable(t)
	if useVNNI {
		// Also check the AVX2 integer kernels that VNNI machines skip.
		useVNNI = false
		defer func() { useVNNI = true }()
		t.Run("NoVNNI", testFastMatchesPortable)
	} else {
		t.Log("no AVX-512 VNNI on this CPU: its kernels are not tested")
	}
	if hasAVX512 {
		// Also check the AVX2 f32 kernels that AVX-512 machines skip.
		k1, k4 := dotF32Kernel, useAVX512x4
		dotF32Kernel, useAVX512x4 = dotF32AVX2, false
		defer func() { dotF32Kernel, useAVX512x4 = k1, k4 }()
		t.Run("AVX2", testFastMatchesPortable)
	}
}

func testFastMatchesPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	close := func(t *testing.T, what string, got, want, mag float32, n int) {
		t.Helper()
		if tol := float64(mag) * float64(n+8) * 0x1p-23; math.Abs(float64(got-want)) > tol {
			t.Fatalf("%s: fast %v portable %v (tol %g)", what, got, want, tol)
		}
	}
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 255, 288, 1000} {
		a, b := randVec(r, n, 1), randVec(r, n+3, 1)
		var mag float32
		for i := range a {
			mag += abs32(a[i] * b[i])
		}
		close(t, fmt.Sprintf("f32 n=%d", n), dotF32(a, b), dotF32Go(a, b), mag, n)
		e1, e2 := randVec(r, n, 30), make([]float32, n)
		e1[0] = -200 // underflow: 0 or the smallest normal, either is fine
		copy(e2, e1)
		s1, s2 := expSum(e1, 3), expSumGo(e2, 3)
		close(t, fmt.Sprintf("expSum n=%d", n), s1, s2, s2*4, 1)
		for i := range e1 {
			if d := math.Abs(float64(e1[i] - e2[i])); d > 4*float64(e2[i])*0x1p-24+1e-37 {
				t.Fatalf("exp n=%d element %d : fast %v portable %v", n, i, e1[i], e2[i])
			}
		}
		g1, g2, gb := randVec(r, n, 12), make([]float32, n), randVec(r, n, 2)
		g1[0] = -200 // e^200 overflows: -0 or a tiny value, either is fine
		if n > 1 {
			g1[1] = 200
		}
		copy(g2, g1)
		siluMul(g1, gb)
		siluMulGo(g2, gb)
		for i := range g1 {
			if d := math.Abs(float64(g1[i] - g2[i])); d > 6*math.Abs(float64(g2[i]))*0x1p-24+1e-30 {
				t.Fatalf("silu n=%d element %d: fast %v portable %v", n, i, g1[i], g2[i])
			}
		}
		y1, y2 := randVec(r, n+2, 1), make([]float32, n+2)
		copy(y2, y1)
		axpy(y1[:n], 0.37, a)
		axpyGo(y2[:n], 0.37, a)
		for i := range y1 {
			close(t, fmt.Sprintf("axpy n=%d element %d", n, i), y1[i], y2[i], abs32(y2[i])+abs32(a[min(i, n-1)]), 1)
		}
		for _, typ := range []ggml.Type{ggml.F16, ggml.BF16} {
			row, _ := Quantize(typ, a)
			fast, slow := dotF16(row, b[:n]), dotF16Go(row, b[:n])
			if typ == ggml.BF16 {
				fast, slow = dotBF16(row, b[:n]), dotBF16Go(row, b[:n])
			}
			close(t, fmt.Sprintf("%s n=%d", typ, n), fast, slow, 2*mag, n)
		}
	}
	for _, nb := range []int{1, 2, 3, 9, 24, 33} {
		for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q4_0, ggml.Q5_0, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K} {
			cols := nb * 32
			if elems, _ := typ.BlockSize(); elems == qkK {
				cols = nb * 256
			}
			m := randMatrix(r, typ, 1, cols)
			var v qvec
			x := randVec(r, cols, 1)
			v.quantize(x)
			v.k.quantize(x[:cols/qkK*qkK])
			var want, got float32
			switch typ {
			case ggml.Q8_0:
				got, want = dotQ80(m.Data, v.d, v.qs), dotQ80Go(m.Data, v.d, v.qs)
			case ggml.Q4_0:
				got, want = dotQ40(m.Data, v.d, v.qs), dotQ40Go(m.Data, v.d, v.qs)
			case ggml.Q5_0:
				got, want = dotQ50(m.Data, v.d, v.qs, nil), dotQ50Go(m.Data, v.d, v.qs, nil)
			case ggml.Q4_K:
				got, want = dotQ4K(m.Data, v.k.d, v.k.qs, v.k.bs), dotQ4KGo(m.Data, v.k.d, v.k.qs, v.k.bs)
			case ggml.Q5_K:
				got, want = dotQ5K(m.Data, v.k.d, v.k.qs, v.k.bs), dotQ5KGo(m.Data, v.k.d, v.k.qs, v.k.bs)
			case ggml.Q6_K:
				got, want = dotQ6K(m.Data, v.k.d, v.k.qs, v.k.bs), dotQ6KGo(m.Data, v.k.d, v.k.qs, v.k.bs)
			}
			w := make([]float32, cols)
			dequantize(w, typ, m.Data)
			var mag float32
			for i := range w {
				if needsK(typ) {
					mag += abs32(w[i] * v.k.d[i/qkK] * float32(v.k.qs[i]))
				} else {
					mag += abs32(w[i] * v.d[i/32] * float32(v.qs[i]))
				}
			}
			close(t, fmt.Sprintf("%s blocks=%d", typ, nb), got, want, 2*mag, cols)
		}
	}
	// The multi-vector f32 product against the portable one, with a column
	// tail and a vector count that is not a multiple of four.
	for _, s := range [][3]int{{5, 36, 4}, {9, 13, 7}, {17, 288, 8}, {3, 7, 5}, {9, 40, 1}, {13, 288, 2}, {6, 24, 3}, {2, 300, 1}} {
		rows, cols, n := s[0], s[1], s[2]
		w, x := randVec(r, rows*cols, 1), randVec(r, n*cols, 1)
		fast, slow := make([]float32, rows*n), make([]float32, rows*n)
		matF32(fast, w, x, rows, cols, n, 0, rows)
		matF32Go(slow, w, x, rows, cols, n, 0, rows)
		for i := range fast {
			var mag float32
			row, v := w[(i%rows)*cols:], x[(i/rows)*cols:]
			for k := 0; k < cols; k++ {
				mag += abs32(row[k] * v[k])
			}
			close(t, fmt.Sprintf("matF32 %v element %d", s, i), fast[i], slow[i], mag, cols)
		}
	}
}

// quantizeBoth runs the fast and portable activation quantizers on x
// (whole blocks) and fails unless they agree bit for bit, in blocks of 32
// and, for the whole super-blocks of 256 in x, in those (kvec).
func quantizeBoth(t *testing.T, x []float32) {
	t.Helper()
	quantizeBothK(t, x[:len(x)/qkK*qkK])
	nb := len(x) / qk
	d1, d2 := make([]float32, nb), make([]float32, nb)
	q1, q2 := make([]int8, nb*qk), make([]int8, nb*qk)
	s1, s2 := make([]int32, nb), make([]int32, nb)
	quantizeQ8(d1, q1, s1, x)
	quantizeQ8Go(d2, q2, s2, x)
	for b := 0; b < nb; b++ {
		if math.Float32bits(d1[b]) != math.Float32bits(d2[b]) || s1[b] != s2[b] {
			t.Fatalf("block %d: fast d %v sum %d, portable d %v sum %d", b, d1[b], s1[b], d2[b], s2[b])
		}
	}
	for i := range q1 {
		if q1[i] != q2[i] {
			t.Fatalf("element %d (%v): fast %d portable %d", i, x[i], q1[i], q2[i])
		}
	}
}

// quantizeBothK is quantizeBoth's check of the super-blocks of 256.
func quantizeBothK(t *testing.T, x []float32) {
	t.Helper()
	nsb := len(x) / qkK
	d1, d2 := make([]float32, nsb), make([]float32, nsb)
	q1, q2 := make([]int8, nsb*qkK), make([]int8, nsb*qkK)
	s1, s2 := make([]int16, nsb*16), make([]int16, nsb*16)
	quantizeQ8K(d1, q1, s1, x)
	quantizeQ8KGo(d2, q2, s2, x)
	for b := range nsb {
		if math.Float32bits(d1[b]) != math.Float32bits(d2[b]) {
			t.Fatalf("super-block %d: fast d %v, portable %v", b, d1[b], d2[b])
		}
	}
	for i := range s1 {
		if s1[i] != s2[i] {
			t.Fatalf("sum of sixteen %d: fast %d, portable %d", i, s1[i], s2[i])
		}
	}
	for i := range q1 {
		if q1[i] != q2[i] {
			t.Fatalf("super-block element %d (%v): fast %d portable %d", i, x[i], q1[i], q2[i])
		}
	}
}

// TestQuantizeQ8Matches: the vectorized activation quantizer is the
// portable one, exactly, including ties (x*id = k+0.5), an all-zero block,
// negative zero and values at the block maximum.
func TestQuantizeQ8Matches(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no fast path on this CPU")
	}
	r := rand.New(rand.NewPCG(31, 32))
	x := randVec(r, 32*64, 3)
	for i := 32; i < 64; i++ {
		x[i] = 0
	}
	x[70] = float32(math.Copysign(0, -1))
	// A block whose amax is 127, so id = 1 and halves are exact ties.
	for i := 0; i < 32; i++ {
		x[128+i] = float32(i) - 15.5
	}
	x[128+31] = 127
	for i := 0; i < 32; i++ { // tiny and huge magnitudes
		x[192+i] = float32(r.NormFloat64()) * 1e-30
		x[224+i] = float32(r.NormFloat64()) * 1e30
	}
	// Super-blocks of 256: all zeros, ties at amax 127, tiny values.
	for i := 512; i < 768; i++ {
		x[i] = 0
	}
	for i := 0; i < 256; i++ {
		x[768+i] = float32(i%64) - 31.5
		x[1024+i] = float32(r.NormFloat64()) * 1e-36
	}
	x[768+255] = 127
	quantizeBoth(t, x)
}

// FuzzQuantizeQ8 compares the two quantizers on arbitrary finite floats,
// in both forms (quantizeBoth).
func FuzzQuantizeQ8(f *testing.F) {
	if !hasAVX2 {
		f.Skip("no fast path on this CPU")
	}
	f.Add(make([]byte, 128))
	f.Add([]byte("\x00\x00\x00\x3f\x00\x00\xc0\x3f\x00\x00\x20\xc0\x00\x00\xfe\x42"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b) / 4 / qk * qk
		if n == 0 {
			return
		}
		x := make([]float32, n)
		for i := range x {
			v := math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				v = 1 // only finite activations are defined
			}
			x[i] = v
		}
		quantizeBoth(t, x)
	})
}

// TestTilesNoVNNI runs the tile tests on the AVX2 integer kernels, which
// VNNI machines otherwise skip.
func TestTilesNoVNNI(t *testing.T) {
	if !useVNNI {
		t.Skip("no AVX-512 VNNI here: the tile tests already run the AVX2 kernels")
	}
	useVNNI = false
	defer func() { useVNNI = true }()
	t.Run("DotX4Rows", TestDotX4Rows)
	t.Run("DotX8Rows", TestDotX8Rows)
	t.Run("DotX8RowsWide", TestDotX8RowsWide)
	t.Run("MatMulTiled", TestMatMulTiled)
	t.Run("MatMulActs", TestMatMulActs)
}
