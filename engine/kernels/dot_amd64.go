package kernels

import (
	"os"

	"golang.org/x/sys/cpu"
)

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func dotF32x4AVX2(row, x *float32, stride, n int, out *[4]float32)

//go:noescape
func dotF16AVX2(row *byte, x *float32, n int) float32

//go:noescape
func dotBF16AVX2(row *byte, x *float32, n int) float32

//go:noescape
func dotF32AVX512(a, b *float32, n int) float32

//go:noescape
func dotF32x4AVX512(row, x *float32, stride, n int, out *[4]float32)

//go:noescape
func expSumAVX2(x *float32, n int, sub float32) float32

//go:noescape
func siluMulAVX2(a, b *float32, n int)

//go:noescape
func axpyAVX2(y, x *float32, a float32, n int)

// hasAVX512 selects the 16-wide f32 kernels (AVX512F for the arithmetic,
// DQ for VEXTRACTF32X8). RUNNEL_NOAVX512=1 keeps the AVX2 ones.
var hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && os.Getenv("RUNNEL_NOAVX512") == ""

var dotF32Kernel = dotF32AVX2

// useAVX512x4 picks the 16-wide 4-row kernel. It is a flag and a direct
// call rather than a func variable: escape analysis cannot see through a
// func variable, so its out array would be allocated on every call.
var useAVX512x4 = false

func dotF32x4Kernel(row, x *float32, stride, n int, out *[4]float32) {
	if useAVX512x4 {
		dotF32x4AVX512(row, x, stride, n, out)
	} else {
		dotF32x4AVX2(row, x, stride, n, out)
	}
}

// hasAVX2 reports whether the assembly kernels are usable. RUNNEL_NOASM=1
// forces the portable path (for comparisons and for debugging).
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C && os.Getenv("RUNNEL_NOASM") == ""

func init() {
	if !hasAVX2 {
		return
	}
	dotF32 = dotF32Asm
	dotF16 = dotF16Asm
	dotBF16 = dotBF16Asm
	dotQ80 = dotQ80Asm
	dotQ40 = dotQ40Asm
	dotQ4K = dotQ4KAsm
	dotQ5K = dotQ5KAsm
	dotQ50 = dotQ50Asm
	quantizeQ8 = quantizeQ8Asm
	quantizeQ8K = quantizeQ8KAsm
	dotQ6K = dotQ6KAsm
	matF32 = matF32Asm
	axpy = axpyAsm
	expSum = expSumAsm
	siluMul = siluMulAsm
	if hasAVX512 {
		dotF32Kernel, useAVX512x4 = dotF32AVX512, true
	}
}

func axpyAsm(y []float32, a float32, x []float32) {
	n := len(x)
	y = y[:n]
	m := n &^ 7
	if m > 0 {
		axpyAVX2(&y[0], &x[0], a, m)
	}
	for i := m; i < n; i++ {
		y[i] += a * x[i]
	}
}

// The wrappers check lengths (the assembly trusts them) and finish the
// last len%8 elements in Go.

func dotF32Asm(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	if n < 8 {
		return dotF32Go(a, b)
	}
	m := n &^ 7
	s := dotF32Kernel(&a[0], &b[0], m)
	for i := m; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

func dotF16Asm(row []byte, x []float32) float32 {
	n := len(x)
	row = row[:2*n]
	if n < 8 {
		return dotF16Go(row, x)
	}
	m := n &^ 7
	return dotF16AVX2(&row[0], &x[0], m) + dotF16Go(row[2*m:], x[m:])
}

func dotBF16Asm(row []byte, x []float32) float32 {
	n := len(x)
	row = row[:2*n]
	if n < 8 {
		return dotBF16Go(row, x)
	}
	m := n &^ 7
	return dotBF16AVX2(&row[0], &x[0], m) + dotBF16Go(row[2*m:], x[m:])
}

// matF32Asm computes rows [lo, hi) for n vectors, four vectors per pass so
// each row is loaded from cache once per four products.
func matF32Asm(dst, w, x []float32, rows, cols, n, lo, hi int) {
	if cols >= 8 && n < 4 {
		matF32FewAsm(dst, w, x, rows, cols, n, lo, hi)
		return
	}
	if cols < 8 {
		for r := lo; r < hi; r++ {
			row := w[r*cols : (r+1)*cols]
			for v := 0; v < n; v++ {
				dst[v*rows+r] = dotF32Asm(row, x[v*cols:(v+1)*cols])
			}
		}
		return
	}
	m := cols &^ 7
	_ = w[hi*cols-1]
	_ = x[n*cols-1]
	var out [4]float32
	for r := lo; r < hi; r++ {
		row := w[r*cols : (r+1)*cols]
		v := 0
		for ; v+4 <= n; v += 4 {
			dotF32x4Kernel(&row[0], &x[v*cols], cols, m, &out)
			for k := range 4 {
				s := out[k]
				xv := x[(v+k)*cols : (v+k+1)*cols]
				for i := m; i < cols; i++ {
					s += row[i] * xv[i]
				}
				dst[(v+k)*rows+r] = s
			}
		}
		for ; v < n; v++ {
			dst[v*rows+r] = dotF32Asm(row, x[v*cols:(v+1)*cols])
		}
	}
}

func expSumAsm(x []float32, sub float32) float32 {
	m := len(x) &^ 7
	var s float32
	if m > 0 {
		s = expSumAVX2(&x[0], m, sub)
	}
	return s + expSumGo(x[m:], sub)
}

func siluMulAsm(a, b []float32) {
	b = b[:len(a)]
	m := len(a) &^ 7
	if m > 0 {
		siluMulAVX2(&a[0], &b[0], m)
	}
	siluMulGo(a[m:], b[m:])
}

// matF32FewAsm serves 1 to 3 vectors (a single decoding stream): the
// 4-vector kernel is symmetric, so it is run with x as its "row" and four
// consecutive weight rows as its "vectors", loading x once per four rows
// and paying one call and one reduction per four dots.
func matF32FewAsm(dst, w, x []float32, rows, cols, n, lo, hi int) {
	m := cols &^ 7
	_ = w[hi*cols-1]
	_ = x[n*cols-1]
	var out [4]float32
	r := lo
	for ; r+4 <= hi; r += 4 {
		for v := 0; v < n; v++ {
			xv := x[v*cols : (v+1)*cols]
			dotF32x4Kernel(&xv[0], &w[r*cols], cols, m, &out)
			for k := range 4 {
				s := out[k]
				row := w[(r+k)*cols : (r+k+1)*cols]
				for i := m; i < cols; i++ {
					s += row[i] * xv[i]
				}
				dst[v*rows+r+k] = s
			}
		}
	}
	for ; r < hi; r++ {
		row := w[r*cols : (r+1)*cols]
		for v := 0; v < n; v++ {
			dst[v*rows+r] = dotF32Asm(row, x[v*cols:(v+1)*cols])
		}
	}
}
