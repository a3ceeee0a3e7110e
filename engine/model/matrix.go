package model

// Interim kernels until package engine/kernels lands: f32 only, the same
// signatures, so switching is a one-line change per call.

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/runnel/runnel/engine/ggml"
)

// Matrix is a row-major weight matrix over raw (possibly mapped) data.
type Matrix struct {
	Type       ggml.Type
	Rows, Cols int
	Data       []byte
	F32        []float32 // set when Type == ggml.F32
}

func matVec(dst []float32, m *Matrix, x []float32) { matMul(dst, m, x, 1) }

// matMul computes n products: dst[i*Rows+r] = row r · x[i*Cols:].
func matMul(dst []float32, m *Matrix, x []float32, n int) {
	rows, cols := m.Rows, m.Cols
	work := func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			w := m.F32[r*cols : r*cols+cols]
			for i := 0; i < n; i++ {
				xi := x[i*cols : i*cols+cols]
				var s0, s1, s2, s3 float32
				j := 0
				for ; j+4 <= cols; j += 4 {
					s0 += w[j] * xi[j]
					s1 += w[j+1] * xi[j+1]
					s2 += w[j+2] * xi[j+2]
					s3 += w[j+3] * xi[j+3]
				}
				for ; j < cols; j++ {
					s0 += w[j] * xi[j]
				}
				dst[i*rows+r] = s0 + s1 + s2 + s3
			}
		}
	}
	parallelRows(rows, rows*cols*n, work)
}

// parallelRows splits [0, rows) across cores when the work (multiply-adds)
// is large enough to pay for the goroutines.
func parallelRows(rows, work int, f func(r0, r1 int)) {
	threads := runtime.GOMAXPROCS(0)
	if threads == 1 || work < 1<<16 || rows < 2 {
		f(0, rows)
		return
	}
	if threads > rows {
		threads = rows
	}
	var wg sync.WaitGroup
	chunk := (rows + threads - 1) / threads
	for r := chunk; r < rows; r += chunk {
		wg.Add(1)
		go func(r0 int) {
			defer wg.Done()
			f(r0, min(r0+chunk, rows))
		}(r)
	}
	f(0, min(chunk, rows))
	wg.Wait()
}

func dequantize(dst []float32, t ggml.Type, src []byte) error {
	return fmt.Errorf("model: dequantize %s: not supported without engine/kernels", t)
}
