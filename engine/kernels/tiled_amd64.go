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

//go:noescape
func dotQ80x8RowsUVNNI(row *byte, rowBytes, nrows int, d4 *float32, xu *uint8, nb, qstride int, dst *float32, dstStride int)

//go:noescape
func x4corrAVX2(qs *int8, nb int, c16, c32, c128 *int32)

// x4corr fills v's corrections for the kernels that take the weights
// unsigned (X4UPAIR in intdot4_amd64.h): per block and four-byte group of
// quants, -16, -32 and -128 times their sum, laid out as the quants.
func (v *qvec) x4corr() {
	v.c16, v.c32, v.c128 = grow(v.c16, len(v.qs)/4), grow(v.c32, len(v.qs)/4), grow(v.c128, len(v.qs)/4)
	if nb := len(v.qs) / qk; nb > 0 && hasAVX2 {
		x4corrAVX2(&v.qs[0], nb, &v.c16[0], &v.c32[0], &v.c128[0])
	}
	v.u8 = v.u8[:0]
	if useVNNI {
		v.u8 = unsigned8(v.u8, v.qs)
	}
}

// unsigned8 returns u (grown) holding qs+128 as unsigned bytes, the
// activations of the VNNI build's Q8_0 eight-vector tile
// (intdot8u_vnni_amd64.h), eight at a time.
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
// product uses. hasX4(t) must hold; lengths are checked by the caller.
func dotX4RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, c16, c32, c128 []int32, nb, cols int, dst []float32, dstStride int) {
	r, q, o := &rows[0], &qs[0], &dst[0]
	switch {
	case t == ggml.Q8_0 && useVNNI:
		dotQ80x4RowsVNNI(r, rowBytes, nrows, &d4[0], q, &c128[0], nb, cols, o, dstStride)
	case t == ggml.Q8_0:
		dotQ80x4RowsAVX2(r, rowBytes, nrows, &d4[0], q, nil, nb, cols, o, dstStride)
	case t == ggml.Q5_0 && useVNNI:
		dotQ50x4RowsVNNI(r, rowBytes, nrows, &d4[0], q, &c16[0], nb, cols, o, dstStride)
	case t == ggml.Q5_0:
		dotQ50x4RowsAVX2(r, rowBytes, nrows, &d4[0], q, &c16[0], nb, cols, o, dstStride)
	case t == ggml.Q4_0 && useVNNI:
		dotQ40x4RowsVNNI(r, rowBytes, nrows, &d4[0], q, nil, nb, cols, o, dstStride)
	case t == ggml.Q4_0:
		dotQ40x4RowsAVX2(r, rowBytes, nrows, &d4[0], q, nil, nb, cols, o, dstStride)
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

// x8Unsigned turns the VNNI build's Q8_0 eight-vector tile with unsigned
// activations on (intdot8u_vnni_amd64.h); off, that build runs the tile
// with per-vector corrections (intdot8_vnni_amd64.h), and x8MaxCols
// applies. A variable for benchmarks and tests (the same bits either way).
var x8Unsigned = true

// SetQ80UnsignedTile turns the VNNI build's Q8_0 unsigned-activation tile
// on or off and reports whether it was on; the results are the same bits
// either way. Call it only while no product runs.
func SetQ80UnsignedTile(on bool) bool {
	was := x8Unsigned
	x8Unsigned = on
	return was
}

// x8MaxCols is the widest Q8_0 row the VNNI build's eight-vector tile
// with per-vector corrections takes (x8Unsigned off; the unsigned tile,
// 8 bytes a column for eight vectors, measured 1.37x it at 8192 columns
// and takes any width); wider rows go through two four-vector tiles. Eight vectors'
// quants and corrections are 16 bytes a column, 128 KiB for Llama-3.2-1B's
// 8192-wide ffn_down, where the eight-vector tile measured 0.80× the
// four-vector ones (at 4864 columns still 1.0-1.04×). (Q6_K's tile,
// which reads 9 bytes a column for eight vectors, takes any width.) A
// variable for the tests.
var x8MaxCols = 4864

// dotX8RowsArch runs t's eight-vector kernel. hasX8(t) must hold;
// lengths are checked by the caller.
func dotX8RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, u8 []uint8, c16, c32, c128 []int32, nb, cols int, dst []float32, dstStride int) {
	r, d, q, o := &rows[0], &d4[0], &qs[0], &dst[0]
	switch {
	case !hasX8(t):
		panic("kernels: no eight-vector kernel for " + t.String())
	case t == ggml.Q8_0 && useVNNI && x8Unsigned && len(u8) > 0:
		dotQ80x8RowsUVNNI(r, rowBytes, nrows, d, &u8[0], nb, cols, o, dstStride)
	case t == ggml.Q8_0 && useVNNI && cols > x8MaxCols:
		dotQ80x4RowsVNNI(r, rowBytes, nrows, d, q, &c128[0], nb, cols, o, dstStride)
		dotQ80x4RowsVNNI(r, rowBytes, nrows, &d4[4*nb], &qs[4*cols], &c128[cols], nb, cols, &dst[4*dstStride], dstStride)
	case t == ggml.Q8_0 && useVNNI:
		dotQ80x8RowsVNNI(r, rowBytes, nrows, d, q, &c128[0], nb, cols, o, dstStride)
	case t == ggml.Q8_0:
		dotQ80x8RowsAVX2(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	case t == ggml.Q5_0 && useVNNI:
		dotQ50x8RowsVNNI(r, rowBytes, nrows, d, q, &c16[0], nb, cols, o, dstStride)
	case t == ggml.Q5_0:
		dotQ50x8RowsAVX2(r, rowBytes, nrows, d, q, &c16[0], nb, cols, o, dstStride)
	case t == ggml.Q4_0 && useVNNI:
		dotQ40x8RowsVNNI(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	case t == ggml.Q4_0:
		dotQ40x8RowsAVX2(r, rowBytes, nrows, d, q, nil, nb, cols, o, dstStride)
	}
}
