package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

var allTypes = []ggml.Type{ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1,
	ggml.IQ4_NL, ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.IQ4_XS}

// randMatrix returns a random matrix of type t. F32/F16/BF16/Q8_0/Q4_0 come
// from quantizing Gaussian values; Q4_K and Q6_K from random bytes with
// moderate super-block scales (we do not quantize to them).
// scaleOffsets are the byte offsets of each block type's f16 scales.
var scaleOffsets = map[ggml.Type][]int{
	ggml.Q4_1: {0, 2}, ggml.Q5_0: {0}, ggml.Q5_1: {0, 2}, ggml.IQ4_NL: {0},
	ggml.Q2_K: {80, 82}, ggml.Q3_K: {108}, ggml.Q4_K: {0, 2}, ggml.Q5_K: {0, 2},
	ggml.Q6_K: {208}, ggml.IQ4_XS: {0},
}

func randMatrix(r *rand.Rand, t ggml.Type, rows, cols int) *Matrix {
	var data []byte
	switch t {
	case ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0:
		var err error
		data, err = Quantize(t, randVec(r, rows*cols, 0.5))
		if err != nil {
			panic(err)
		}
	default:
		// Random bits, with the f16 scales overwritten by small finite
		// values (random bits would give NaNs and infinities).
		elems, size := t.BlockSize()
		data = make([]byte, rows*cols/elems*size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		for b := 0; b < len(data)/size; b++ {
			blk := data[b*size : (b+1)*size]
			for _, off := range scaleOffsets[t] {
				putF16(blk[off:], F32ToF16(float32(r.NormFloat64())*0.01))
			}
		}
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		panic(err)
	}
	return m
}

// checkProduct compares dst (n×Rows) with the float64 product of the
// dequantized matrix and x. The tolerance is float32 summation error,
// bounded by cols·2^-23 relative to Σ|w·x| (doubled for safety), plus, for
// quantized weights, the activation rounding: x is stored as dx·q with
// dx = max|x_block|/127 and |x - dx·q| ≤ dx/2, so the product can move by at
// most Σ_block dx/2 · Σ|w| over the block, the blocks being of 32 values,
// or of 256 for the types that take super-blocks (needsK).
func checkProduct(t *testing.T, m *Matrix, x, dst []float32, n int) {
	t.Helper()
	w := make([]float32, m.Rows*m.Cols)
	if m.Type == ggml.F32 {
		copy(w, m.F32)
	} else if err := Dequantize(w, m.Type, m.Data); err != nil {
		t.Fatal(err)
	}
	for v := 0; v < n; v++ {
		xv := x[v*m.Cols : (v+1)*m.Cols]
		var dx []float64
		blk := 32
		if needsK(m.Type) {
			blk = qkK
		}
		if isQuantized(m.Type) {
			for b := 0; b < m.Cols/blk; b++ {
				var amax float32
				for _, e := range xv[b*blk : b*blk+blk] {
					amax = max(amax, abs32(e))
				}
				dx = append(dx, float64(amax)/127)
			}
		}
		for r := 0; r < m.Rows; r++ {
			row := w[r*m.Cols : (r+1)*m.Cols]
			var want, mag, qerr float64
			for i, wi := range row {
				want += float64(wi) * float64(xv[i])
				mag += math.Abs(float64(wi) * float64(xv[i]))
				if dx != nil {
					qerr += math.Abs(float64(wi)) * dx[i/blk] / 2
				}
			}
			tol := 2*float64(m.Cols)*0x1p-23*(mag+qerr) + qerr + 1e-30
			got := float64(dst[v*m.Rows+r])
			if math.Abs(got-want) > tol {
				t.Fatalf("%s %d×%d vector %d row %d: got %g want %g (tol %g)", m.Type, m.Rows, m.Cols, v, r, got, want, tol)
			}
		}
	}
}

func TestMatMulMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range allTypes {
		elems, _ := typ.BlockSize()
		colsList := []int{256, 512, 768}
		if elems == 1 {
			colsList = append(colsList, 1, 7, 33, 65)
		} else if elems == 32 {
			colsList = append(colsList, 32, 96, 288)
		}
		for _, cols := range colsList {
			for _, rows := range []int{1, 7, 64, 301} {
				for _, n := range []int{1, 3, 8} {
					t.Run(fmt.Sprintf("%s/%dx%d/n%d", typ, rows, cols, n), func(t *testing.T) {
						m := randMatrix(r, typ, rows, cols)
						x := randVec(r, n*cols, 1)
						dst := make([]float32, n*rows)
						MatMul(dst, m, x, n)
						checkProduct(t, m, x, dst, n)
						if n == 1 {
							one := make([]float32, rows)
							MatVec(one, m, x)
							for i := range one {
								if one[i] != dst[i] {
									t.Fatalf("MatVec row %d = %v, MatMul %v", i, one[i], dst[i])
								}
							}
						}
					})
				}
			}
		}
	}
}

// TestParallelMatchesInline runs big products both on the pool and inline:
// every row is computed by the same kernel either way, so results are equal.
func TestParallelMatchesInline(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range allTypes {
		m := randMatrix(r, typ, 1001, 512)
		x := randVec(r, 2*512, 1)
		par := make([]float32, 2*1001)
		MatMul(par, m, x, 2)
		old := parallelMin
		parallelMin = math.MaxInt
		seq := make([]float32, 2*1001)
		MatMul(seq, m, x, 2)
		parallelMin = old
		for i := range par {
			if par[i] != seq[i] {
				t.Fatalf("%s: element %d parallel %v inline %v", typ, i, par[i], seq[i])
			}
		}
	}
}

func TestNewMatrixErrors(t *testing.T) {
	if _, err := NewMatrix(ggml.Q8_0, 2, 32, make([]byte, 67)); err == nil {
		t.Error("wrong size accepted")
	}
	if _, err := NewMatrix(ggml.Q8_0, 2, 30, make([]byte, 68)); err == nil {
		t.Error("partial block accepted")
	}
	if _, err := NewMatrix(ggml.IQ2_XS, 1, 256, make([]byte, 74)); err == nil {
		t.Error("unsupported type accepted")
	}
	// An unaligned F32 buffer is copied, not misread.
	buf := make([]byte, 4*3+1)
	for i := 0; i < 3; i++ {
		binary.LittleEndian.PutUint32(buf[1+4*i:], math.Float32bits(float32(i)+0.5))
	}
	m, err := NewMatrix(ggml.F32, 1, 3, buf[1:])
	if err != nil {
		t.Fatal(err)
	}
	if m.F32[0] != 0.5 || m.F32[2] != 2.5 {
		t.Fatalf("F32 = %v", m.F32)
	}
}

func TestVectorHelpers(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	w := []float32{1, 1, 2, 0.5}
	dst := make([]float32, 4)
	RMSNorm(dst, x, w, 0)
	s := float32(1 / math.Sqrt(30.0/4))
	for i := range x {
		if want := w[i] * s * x[i]; math.Abs(float64(dst[i]-want)) > 1e-6 {
			t.Fatalf("RMSNorm[%d] = %v want %v", i, dst[i], want)
		}
	}
	p := []float32{1, 2, 3}
	Softmax(p)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	sum := e[0] + e[1] + e[2]
	for i := range p {
		if math.Abs(float64(p[i])-e[i]/sum) > 1e-6 {
			t.Fatalf("Softmax = %v", p)
		}
	}
	a, b := []float32{0, 1, -2}, []float32{2, 3, 4}
	SiLUMul(a, b)
	for i, v := range []float64{0, 1, -2} {
		want := v / (1 + math.Exp(-v)) * []float64{2, 3, 4}[i]
		if math.Abs(float64(a[i])-want) > 1e-6 {
			t.Fatalf("SiLUMul = %v", a)
		}
	}
	y := []float32{1, 1, 1, 1, 1}
	Axpy(y, 2, []float32{1, 2, 3})
	if y[0] != 3 || y[2] != 7 || y[3] != 1 {
		t.Fatalf("Axpy = %v", y)
	}
	if Dot([]float32{1, 2, 3}, []float32{4, 5, 6, 7}) != 32 {
		t.Fatal("Dot")
	}
}

// TestConcurrentCallers runs products from several goroutines at once, as
// several models or tests in one process do, sharing the worker pool and
// recycling jobs; each result must equal the same product run alone.
func TestConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	m := randMatrix(r, ggml.Q8_0, 777, 256)
	x := randVec(r, 3*256, 1)
	want := make([]float32, 3*777)
	MatMul(want, m, x, 3)
	done := make(chan error)
	for g := 0; g < 6; g++ {
		go func() {
			dst := make([]float32, 3*777)
			for it := 0; it < 50; it++ {
				MatMul(dst, m, x, 3)
				for i := range dst {
					if dst[i] != want[i] {
						done <- fmt.Errorf("iteration %d element %d: %v want %v", it, i, dst[i], want[i])
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 6; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestParallel(t *testing.T) {
	for _, n := range []int{1, 2, 5, 48, 1001} {
		hits := make([]int32, n)
		Parallel(n, 1<<20, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i]++ // disjoint ranges: no two calls touch one index
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, h)
			}
		}
	}
}

// TestStaleTasks runs many short parallel products back to back, so that
// workers often pick up a task after its job finished and was recycled for
// the next product (the case the generation counter guards). A stale task
// that claimed rows would break the row count and hang the caller or
// corrupt a result.
func TestStaleTasks(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	m := randMatrix(r, ggml.F32, 64, 512) // 32K multiply-adds: just parallel
	x := randVec(r, 512, 1)
	want := make([]float32, 64)
	old := parallelMin
	parallelMin = math.MaxInt
	MatVec(want, m, x)
	parallelMin = old
	dst := make([]float32, 64)
	for it := 0; it < 20000; it++ {
		MatVec(dst, m, x)
		if dst[it%64] != want[it%64] {
			t.Fatalf("iteration %d: row %d = %v, want %v", it, it%64, dst[it%64], want[it%64])
		}
	}
}

func TestExpf(t *testing.T) {
	for x := float32(-87); x <= 88; x += 0.0137 {
		want := math.Exp(float64(x))
		if got := float64(expf(x)); math.Abs(got-want) > 3*want*0x1p-24 {
			t.Fatalf("expf(%v) = %v, want %v", x, got, want)
		}
	}
	if expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) || expf(0) != 1 {
		t.Fatal("expf limits")
	}
}
