package kernels

import (
	"encoding/binary"
	"unsafe"

	"github.com/runnel/runnel/engine/ggml"
)

// The four-vector kernels of intdot4_amd64.h, intq6k_amd64.h and
// intq4k_amd64.h, per block type and build. Their arguments: rows of
// rowBytes bytes, nrows of them; four vectors' quants (qstride bytes
// apart) and block scales, nb blocks each: for the 32-element types
// interleaved (d4); for Q5_0, and Q8_0 with VNNI, the corrections of
// x4corr (laid out as the quants); row r's result for vector k goes to
// dst[r+k·dstStride]. Q4_K's and Q6_K's take kvec's super-blocks
// of 256: four vectors' scales interleaved (d4, 16 bytes a super-block),
// quants qstride bytes apart and sums of 16 qstride/8 bytes apart.

//go:noescape
func dotQ80x4RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ80x4RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ50x4RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ50x4RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ40x4RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ40x4RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ4Kx4RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ4Kx4RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ6Kx4RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ6Kx4RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ80x8RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ50x8RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ40x8RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ6Kx8RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ6Kx8RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ4Kx8RowsAVX2(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ40x8RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ4Kx8RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ80x8RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ50x8RowsVNNI(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)

// The tiles over unsigned activations (intdot8u_vnni_amd64.h): xu is
// qvec.u8, four or eight vectors' unsigned quants qstride bytes apart.

//go:noescape
func dotQ80x8RowsUVNNI(row *byte, rowBytes, nrows int, d4 *float32, xu *uint8, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ80x4RowsUVNNI(row *byte, rowBytes, nrows int, d4 *float32, xu *uint8, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func dotQ50x8RowsUVNNI(row *byte, rowBytes, nrows int, d4 *float32, xu *uint8, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func x4corrAVX2(qs *int8, nb, shift int, c *int32)

// tileForms is what t's tile kernels (and Q5_0's two-row kernels) in the
// build in use read besides d4 and qs, for vectors cols wide: on the VNNI
// build, the unsigned quants for Q8_0 (the corrections -128·Σx where
// unsigned tiles are off), Q5_0's corrections -16·Σx and, where its
// eight-vector tile takes unsigned quants (q50Unsigned), those too; on
// AVX2, Q5_0's corrections. Q4_0 and the sign trick of AVX2's Q8_0 read
// none.
func tileForms(t ggml.Type, cols int) tileForm {
	switch {
	case !hasAVX2 || t != ggml.Q8_0 && t != ggml.Q5_0:
		return 0
	case t == ggml.Q8_0 && !useVNNI:
		return 0
	case t == ggml.Q8_0 && !unsignedTiles:
		return formC128
	case t == ggml.Q8_0:
		return formU8
	case q50Unsigned(cols) && x8Tiles:
		return formC16 | formU8
	}
	return formC16
}

// q50Unsigned reports whether Q5_0 rows cols wide take the eight-vector
// tile over unsigned activations: on the VNNI build, from 2048 columns.
// Q5_0's weights cost the same to unpack signed or unsigned, so the
// unsigned tile only adds its per-row correction (two instructions a row
// and block) and saves the vectors' correction loads: in the first-level
// cache those cost less (0.96-0.99x at 896 columns), past it more
// (1.21-1.26x at 2048; docs/benchmarks.md, enginetiles session). Its
// four-vector tile would share the correction among four vectors only and
// lost in 9 of 10 measurements (0.81-1.04x), so Q5_0's four-vector tiles
// keep the per-vector corrections.
func q50Unsigned(cols int) bool { return useVNNI && unsignedTiles && cols >= 2048 }

// makeForms makes the forms in need from v's quants.
func (v *qvec) makeForms(need tileForm) {
	if need&formC16 != 0 {
		v.c16 = corrections(v.c16, v.qs, 4)
	}
	if need&formC128 != 0 {
		v.c128 = corrections(v.c128, v.qs, 7)
	}
	if need&formU8 != 0 {
		v.u8 = unsigned8(v.u8, v.qs)
	}
}

// corrections returns c (grown) holding -(Σ qs << shift) over each
// four-byte group of qs, the lanes X4UPAIR (intdot4_amd64.h) adds for
// weights taken as w + 1<<shift.
func corrections(c []int32, qs []int8, shift int) []int32 {
	c = grow(c, len(qs)/4)
	if nb := len(qs) / qk; nb > 0 {
		x4corrAVX2(&qs[0], nb, shift, &c[0])
	}
	return c
}

// formAt panics unless xq holds form f; kernels that read a form no
// product made would read another quantization's.
func formAt(xq *qvec, f tileForm) {
	if xq.forms&f == 0 {
		panic("kernels: a tile's activations lack a form it reads")
	}
}

// corrAt is vector v's first correction lane in c (a form f of xq), the
// lanes of vectors v … v+n-1 checked.
func corrAt(xq *qvec, f tileForm, c []int32, v, n, cols int) *int32 {
	formAt(xq, f)
	_ = c[(v+n)*cols/4-1]
	return &c[v*cols/4]
}

// u8At is vector v's first unsigned quant, those of v … v+n-1 checked.
func u8At(xq *qvec, v, n, cols int) *uint8 {
	formAt(xq, formU8)
	_ = xq.u8[(v+n)*cols-1]
	return &xq.u8[v*cols]
}

// unsigned8 returns u (grown) holding qs+128 as unsigned bytes, the
// activations of the VNNI build's unsigned tiles, eight at a time.
func unsigned8(u []uint8, qs []int8) []uint8 {
	u = grow(u, len(qs))
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(qs))), len(qs))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(u[i:], binary.LittleEndian.Uint64(b[i:])^0x8080808080808080)
	}
	for ; i < len(b); i++ {
		u[i] = b[i] ^ 0x80
	}
	return u
}

// hasX4 reports whether t has a four-vector kernel here.
func hasX4(t ggml.Type) bool {
	return hasAVX2 && (t == ggml.Q8_0 || t == ggml.Q5_0 || t == ggml.Q4_0 || t == ggml.Q4_K || t == ggml.Q6_K)
}

// dotX4RowsArch runs t's four-vector kernel, in the build its dot
// product uses, on vectors v … v+3 of xq with d4's scale group at s.
// hasX4(t) must hold; the caller checks all but the forms' lengths.
func dotX4RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, xq *qvec, v, s, cols int, dst []float32, dstStride int) {
	nb := cols / qk
	r, d, q, o := &rows[0], &xq.d4[s*nb], &xq.qs[v*cols], &dst[0]
	switch {
	case t == ggml.Q8_0 && useVNNI && unsignedTiles:
		dotQ80x4RowsUVNNI(r, rowBytes, nrows, d, u8At(xq, v, 4, cols), nb, cols, o, dstStride)
	case t == ggml.Q8_0 && useVNNI:
		dotQ80x4RowsVNNI(r, rowBytes, nrows, d, q, corrAt(xq, formC128, xq.c128, v, 4, cols), nb, cols, o, dstStride)
	case t == ggml.Q8_0:
		dotQ80x4RowsAVX2(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	case t == ggml.Q5_0 && useVNNI:
		dotQ50x4RowsVNNI(r, rowBytes, nrows, d, q, corrAt(xq, formC16, xq.c16, v, 4, cols), nb, cols, o, dstStride)
	case t == ggml.Q5_0:
		dotQ50x4RowsAVX2(r, rowBytes, nrows, d, q, corrAt(xq, formC16, xq.c16, v, 4, cols), nb, cols, o, dstStride)
	case t == ggml.Q4_0 && useVNNI:
		dotQ40x4RowsVNNI(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	case t == ggml.Q4_0:
		dotQ40x4RowsAVX2(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	default:
		panic("kernels: no four-vector kernel for " + t.String())
	}
}

// hasX8 reports whether t has an eight-vector kernel in the build in use:
// Q8_0, Q5_0, Q4_0 (intdot8_amd64.h; with VNNI, Q8_0's and Q5_0's in
// intdot8_vnni_amd64.h), Q6_K (intq6k_amd64.h) and Q4_K (intq4k_amd64.h),
// the last two for rows of any width.
func hasX8(t ggml.Type) bool {
	return hasAVX2 && (t == ggml.Q8_0 || t == ggml.Q5_0 || t == ggml.Q4_0 || t == ggml.Q6_K || t == ggml.Q4_K && x8Q4K)
}

// x8Q4K turns the Q4_K eight-vector tile on; a variable so that a
// benchmark can compare it with two four-vector tiles, the other types'
// eight-vector tiles staying on.
var x8Q4K = true

// SetQ4KEightVectorTile turns the Q4_K eight-vector tile on or off and
// reports whether it was on, as SetEightVectorTiles does for all types.
func SetQ4KEightVectorTile(on bool) bool {
	was := x8Q4K
	x8Q4K = on
	return was
}

// dotKX4RowsArch runs the four-vector kernel of t, a type that takes
// super-blocks of 256 (needsK), in the build its dot product uses.
// hasX4(t) must hold; lengths are checked by the caller.
func dotKX4RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, bs []int16, nsb, cols int, dst []float32, dstStride int) {
	switch {
	case t == ggml.Q6_K && useVNNI:
		dotQ6Kx4RowsVNNI(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	case t == ggml.Q6_K:
		dotQ6Kx4RowsAVX2(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	case t == ggml.Q4_K && useVNNI:
		dotQ4Kx4RowsVNNI(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	case t == ggml.Q4_K:
		dotQ4Kx4RowsAVX2(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	default:
		panic("kernels: no four-vector kernel for " + t.String())
	}
}

// dotKX8RowsArch is dotKX4RowsArch's eight-vector kernel (hasX8(t) must
// hold): d4 holds the two groups' interleaved scales, 4·nsb apart.
func dotKX8RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, bs []int16, nsb, cols int, dst []float32, dstStride int) {
	switch {
	case t == ggml.Q6_K && useVNNI && x8Q6KVNNI:
		dotQ6Kx8RowsVNNI(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	case t == ggml.Q6_K:
		dotQ6Kx8RowsAVX2(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	case t == ggml.Q4_K && useVNNI:
		dotQ4Kx8RowsVNNI(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	case t == ggml.Q4_K:
		dotQ4Kx8RowsAVX2(&rows[0], rowBytes, nrows, &d4[0], &qs[0], &bs[0], nsb, cols, &dst[0], dstStride)
	default:
		panic("kernels: no eight-vector kernel for " + t.String())
	}
}

// x8Q6KVNNI turns the VNNI build's Q6_K eight-vector tile on; off, that
// build runs the AVX2 one (SetQ6KVNNITile, for benchmarks; the same bits).
var x8Q6KVNNI = true

// SetQ6KVNNITile turns the VNNI build's Q6_K eight-vector tile on or off
// and reports whether it was on; the results are the same bits either way.
// Call it only while no product runs.
func SetQ6KVNNITile(on bool) bool {
	was := x8Q6KVNNI
	x8Q6KVNNI = on
	return was
}

// unsignedTiles turns the VNNI build's tiles with unsigned activations
// on (intdot8u_vnni_amd64.h); off, that build runs the tiles that take the
// weights unsigned with per-vector corrections (intdot8_vnni_amd64.h,
// intdot4_amd64.h), and x8MaxCols applies. A variable for benchmarks and
// tests (the same bits either way).
var unsignedTiles = true

// SetUnsignedTiles turns the VNNI build's Q8_0 tiles with unsigned
// activations on or off and reports whether they were on; the results are
// the same bits either way. Call it only while no product runs.
func SetUnsignedTiles(on bool) bool {
	was := unsignedTiles
	unsignedTiles = on
	return was
}

// x8MaxCols is the widest Q8_0 row the VNNI build's eight-vector tile
// with per-vector corrections takes (unsignedTiles off; the unsigned tile,
// 8 bytes a column for eight vectors, measured 1.37x it at 8192 columns
// and takes any width); wider rows go through two four-vector tiles. Eight vectors'
// quants and corrections are 16 bytes a column, 128 KiB for Llama-3.2-1B's
// 8192-wide ffn_down, where the eight-vector tile measured 0.80× the
// four-vector ones (at 4864 columns still 1.0-1.04×). (Q6_K's tile,
// which reads 9 bytes a column for eight vectors, takes any width.) A
// variable for the tests.
var x8MaxCols = 4864

// dotX8RowsArch runs t's eight-vector kernel on vectors v … v+7 of xq.
// hasX8(t) must hold; the caller checks all but the forms' lengths.
func dotX8RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, xq *qvec, v, cols int, dst []float32, dstStride int) {
	nb := cols / qk
	r, d, q, o := &rows[0], &xq.d4[v*nb], &xq.qs[v*cols], &dst[0]
	switch {
	case !hasX8(t):
		panic("kernels: no eight-vector kernel for " + t.String())
	case t == ggml.Q8_0 && useVNNI && unsignedTiles:
		dotQ80x8RowsUVNNI(r, rowBytes, nrows, d, u8At(xq, v, 8, cols), nb, cols, o, dstStride)
	case t == ggml.Q8_0 && useVNNI && cols > x8MaxCols:
		dotX4RowsArch(t, rows, rowBytes, nrows, xq, v, v, cols, dst, dstStride)
		dotX4RowsArch(t, rows, rowBytes, nrows, xq, v+4, v+4, cols, dst[4*dstStride:], dstStride)
	case t == ggml.Q8_0 && useVNNI:
		dotQ80x8RowsVNNI(r, rowBytes, nrows, d, q, corrAt(xq, formC128, xq.c128, v, 8, cols), nb, cols, o, dstStride)
	case t == ggml.Q8_0:
		dotQ80x8RowsAVX2(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	case t == ggml.Q5_0 && q50Unsigned(cols):
		dotQ50x8RowsUVNNI(r, rowBytes, nrows, d, u8At(xq, v, 8, cols), nb, cols, o, dstStride)
	case t == ggml.Q5_0 && useVNNI:
		dotQ50x8RowsVNNI(r, rowBytes, nrows, d, q, corrAt(xq, formC16, xq.c16, v, 8, cols), nb, cols, o, dstStride)
	case t == ggml.Q5_0:
		dotQ50x8RowsAVX2(r, rowBytes, nrows, d, q, corrAt(xq, formC16, xq.c16, v, 8, cols), nb, cols, o, dstStride)
	case t == ggml.Q4_0 && useVNNI:
		dotQ40x8RowsVNNI(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	case t == ggml.Q4_0:
		dotQ40x8RowsAVX2(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	}
}
