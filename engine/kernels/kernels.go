// Package kernels holds the engine's numeric hot loops: matrix-vector and
// matrix-matrix products over f32, f16, bf16 and GGML quantized weights, the
// (de)quantizers for those formats, and the small vector helpers a
// transformer step needs. Products run on every core through a persistent
// worker pool; amd64 uses AVX2/FMA assembly when the CPU has it (and
// AVX-512 VNNI for the integer kernels where present) and a portable Go
// path otherwise.
package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/runnel/runnel/engine/ggml"
)

// Matrix is a row-major weight matrix of Rows rows of Cols elements. Data holds
// the raw rows in the tensor's encoding (it may be an mmap'd file region); for
// F32 the kernels read F32 instead, which NewMatrix sets.
type Matrix struct {
	Type       ggml.Type
	Rows, Cols int
	Data       []byte    // raw rows, row-major
	F32        []float32 // set when Type == ggml.F32
}

// NewMatrix checks that data holds exactly rows×cols elements of type t and
// returns a Matrix over it without copying. For F32 it views data as
// []float32 in place when data is 4-byte aligned (always so for mmap'd GGUF
// and llama2.c files), else it copies.
func NewMatrix(t ggml.Type, rows, cols int, data []byte) (*Matrix, error) {
	if !Supported(t) {
		return nil, fmt.Errorf("kernels: unsupported tensor type %s", t)
	}
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("kernels: bad matrix shape %d×%d", rows, cols)
	}
	rb, err := ggml.RowBytes(t, cols)
	if err != nil {
		return nil, fmt.Errorf("kernels: row of %d %s elements: %w", cols, t, err)
	}
	if len(data) != rows*rb {
		return nil, fmt.Errorf("kernels: %d×%d %s matrix needs %d bytes, have %d", rows, cols, t, rows*rb, len(data))
	}
	m := &Matrix{Type: t, Rows: rows, Cols: cols, Data: data}
	if t == ggml.F32 {
		m.F32 = bytesToF32(data)
	}
	return m, nil
}

// NewMatrixF32 wraps a float32 slice of rows×cols elements.
func NewMatrixF32(rows, cols int, w []float32) (*Matrix, error) {
	if rows <= 0 || cols <= 0 || len(w) != rows*cols {
		return nil, fmt.Errorf("kernels: %d×%d f32 matrix needs %d values, have %d", rows, cols, rows*cols, len(w))
	}
	return &Matrix{Type: ggml.F32, Rows: rows, Cols: cols, F32: w}, nil
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func bytesToF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	if littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

// check panics on a malformed product and returns the bytes per row of
// m.Data. It writes nothing to m: a Matrix may be shared by goroutines.
func (m *Matrix) check(dstLen, xLen, n int) (rowBytes int) {
	if m.Type == ggml.F32 {
		if len(m.F32) < m.Rows*m.Cols {
			panic(fmt.Sprintf("kernels: f32 matrix %d×%d has %d values", m.Rows, m.Cols, len(m.F32)))
		}
	} else {
		if !Supported(m.Type) {
			panic("kernels: unsupported tensor type " + m.Type.String())
		}
		rb, err := ggml.RowBytes(m.Type, m.Cols)
		if err != nil {
			panic("kernels: " + err.Error())
		}
		rowBytes = rb
		if len(m.Data) < m.Rows*rb {
			panic(fmt.Sprintf("kernels: %s matrix %d×%d has %d bytes", m.Type, m.Rows, m.Cols, len(m.Data)))
		}
	}
	if xLen < n*m.Cols || dstLen < n*m.Rows {
		panic(fmt.Sprintf("kernels: %d×%d matrix times %d vectors: x has %d values, dst %d", m.Rows, m.Cols, n, xLen, dstLen))
	}
	return rowBytes
}

// MatVec sets dst[r] = row r · x for every row, spreading rows over all cores
// for matrices big enough to pay for it. It panics if dst or x is too short.
// For quantized types x is first quantized to 8 bits, in blocks of 32 or
// (the K-quants with fast paths) super-blocks of 256 (see the comment opening dot.go); other types
// use x as is.
func MatVec(dst []float32, m *Matrix, x []float32) { MatMul(dst, m, x, 1) }

// MatMul multiplies n input vectors (x is n×Cols, row-major) by m, writing n
// output vectors (dst is n×Rows): dst[j*Rows+r] = row r · x[j*Cols:(j+1)*Cols].
// Each weight row is read from memory once for all n vectors, which is what
// makes batched decoding of n sequences cheaper than n MatVecs.
func MatMul(dst []float32, m *Matrix, x []float32, n int) {
	if n <= 0 {
		return
	}
	rb := m.check(len(dst), len(x), n)
	j := getJob()
	j.m, j.dst, j.x, j.n, j.rowBytes = m, dst[:n*m.Rows], x[:n*m.Cols], n, rb
	if isQuantized(m.Type) {
		j.xq.quantizeFor(m.Type, j.x, m.Cols, false)
	}
	run(j, m.Rows, m.Rows*m.Cols*n)
	j.m, j.dst, j.x = nil, nil, nil
	putJob(j)
}

// isQuantized reports whether products with t run against 8-bit
// activations (every block type) rather than against x as is.
func isQuantized(t ggml.Type) bool {
	switch t {
	case ggml.F32, ggml.F16, ggml.BF16:
		return false
	}
	return true
}

// qdot is a quantized row's dot product with an activation vector
// quantized by qvec in blocks of 32: its block scales d, quants qs and
// block sums sum. (Q4_K's, Q5_K's and Q6_K's take the super-blocks of
// qvec.k: kvec.dot.)
type qdot func(row []byte, d []float32, qs []int8, sum []int32) float32

// dotFor returns the kernel in use for weight type t.
func dotFor(t ggml.Type) qdot {
	switch t {
	case ggml.Q8_0:
		return func(row []byte, d []float32, qs []int8, _ []int32) float32 { return dotQ80(row, d, qs) }
	case ggml.Q4_0:
		return func(row []byte, d []float32, qs []int8, _ []int32) float32 { return dotQ40(row, d, qs) }
	case ggml.Q4_1:
		return dotQ41Go
	case ggml.Q5_0:
		return dotQ50
	case ggml.Q5_1:
		return dotQ51Go
	case ggml.IQ4_NL:
		return dotIQ4NLGo
	case ggml.Q2_K:
		return dotQ2KGo
	case ggml.Q3_K:
		return dotQ3KGo
	case ggml.IQ4_XS:
		return dotIQ4XSGo
	}
	panic("kernels: no dot product for " + t.String())
}

// rows computes output rows [lo, hi) for all n vectors.
func (j *job) rows(lo, hi int) {
	if j.fn != nil {
		j.fn(lo, hi)
		return
	}
	m, n := j.m, j.n
	switch m.Type {
	case ggml.F32:
		matF32(j.dst, m.F32, j.x, m.Rows, m.Cols, n, lo, hi)
	case ggml.F16, ggml.BF16:
		dot := dotF16
		if m.Type == ggml.BF16 {
			dot = dotBF16
		}
		for r := lo; r < hi; r++ {
			row := m.Data[r*j.rowBytes : (r+1)*j.rowBytes]
			for v := 0; v < n; v++ {
				j.dst[v*m.Rows+r] = dot(row, j.x[v*m.Cols:(v+1)*m.Cols])
			}
		}
	case ggml.Q4_K, ggml.Q5_K, ggml.Q6_K:
		for r := lo; r < hi; r++ {
			row := m.Data[r*j.rowBytes : (r+1)*j.rowBytes]
			for v := 0; v < n; v++ {
				j.dst[v*m.Rows+r] = j.xq.k.dot(m.Type, row, v, m.Cols)
			}
		}
	default:
		nb := m.Cols / qk
		dot := dotFor(m.Type)
		if n == 1 {
			// One vector: two rows at a time where there is such a kernel
			// (not Q5_0's, which needs the tiles' corrections).
			lo += dotRowPairs(m.Type, m.Data[lo*j.rowBytes:hi*j.rowBytes], j.rowBytes, hi-lo, j.xq.d[:nb], j.xq.qs[:m.Cols], nil, j.dst[lo:hi])
		}
		for r := lo; r < hi; r++ {
			row := m.Data[r*j.rowBytes : (r+1)*j.rowBytes]
			for v := 0; v < n; v++ {
				j.dst[v*m.Rows+r] = dot(row, j.xq.d[v*nb:(v+1)*nb], j.xq.qs[v*m.Cols:(v+1)*m.Cols], j.xq.sum[v*nb:(v+1)*nb])
			}
		}
	}
}

// matF32Go is the portable f32 product over rows [lo, hi).
func matF32Go(dst, w, x []float32, rows, cols, n, lo, hi int) {
	for r := lo; r < hi; r++ {
		row := w[r*cols : (r+1)*cols]
		for v := 0; v < n; v++ {
			dst[v*rows+r] = dotF32(row, x[v*cols:(v+1)*cols])
		}
	}
}
