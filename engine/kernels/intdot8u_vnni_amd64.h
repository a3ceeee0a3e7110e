// The product of weight rows of a 32-element block type with four or
// eight activation vectors at once, two rows at a time, AVX-512 VNNI only,
// with the roles of intdot8_vnni_amd64.h's tile turned round: the
// activations unsigned (x+128, qvec.u8) and the weights signed. Written
// once and assembled for Q8_0 and Q5_0 by intdot4_vnni_amd64.s, which
// defines NAME_X8UROWS, NAME_X4UROWS (Q8_0 only: see tiled_amd64.go's
// q50Unsigned), BLOCKBYTES and X4UW(p, w): the
// block at p's weights as signed bytes in w (Q8_0's as they are, Q5_0's
// as the 5-bit values minus 16), clobbering only Y10-Y12.
//
// VPDPBUSD sums (x+128)·w = x·w + 128·w over each four-byte group, and the
// correction -128·Σw belongs to the weight row, not to the vector: it is
// made once a row and block (one VPDPBUSD and a subtraction) for all
// the vectors, where the other tiles load a correction per vector and row,
// 32 bytes besides each vector's 32 quants. A vector's block is then 32
// bytes read, half the other tiles', which keeps eight vectors' blocks of
// a 8192-wide row (64 KiB) where the other tile's (128 KiB) spilled to
// the second-level cache. The integer lanes are the exact sums Σ x·w of
// the one-vector kernel (|x+128| ≤ 255, |w| ≤ 128: no lane overflows),
// and the float arithmetic after them is intdot8_vnni_amd64.h's and
// intdot4_amd64.h's (the same product dw·dx, FMA and horizontal sum, in
// the same order), so the results are the one-vector kernel's bits.
//
// Frame and registers as intdot8_vnni_amd64.h's, but with no corrections
// (BX, R12): vector v's unsigned quants at DI + v·qstride for v < 4, R11
// + (v-4)·qstride for the others; Y6 and Y7 the two rows' corrections of
// the current block, Y14 bytes of 128, Y15 zero. The four-vector tile
// uses the accumulators of vectors 0-3 (Y16-Y19, Y24-Y27) alone.

#ifndef X2UDEFS
#define X2UDEFS
// X2UVEC(q, sel, pa, pb, a0, a1): one vector's share of both rows' blocks
// (signed weights in Y8 and Y9).
#define X2UVEC(q, sel, pa, pb, a0, a1) \
	VMOVDQU     q, Y12 \
	VMOVDQA     Y6, Y10 \
	VMOVDQA     Y7, Y11 \
	VPDPBUSD    Y8, Y12, Y10 \
	VPDPBUSD    Y9, Y12, Y11 \
	VCVTDQ2PS   Y10, Y10 \
	VCVTDQ2PS   Y11, Y11 \
	VSHUFPS     sel, pa, pa, Y4 \
	VSHUFPS     sel, pb, pb, Y5 \
	VFMADD231PS Y10, Y4, a0 \
	VFMADD231PS Y11, Y5, a1

// X2UCORR(w, c): c = -128·Σw over each four-byte group of the weights w.
#define X2UCORR(w, c) \
	VPXOR    c, c, c \
	VPDPBUSD w, Y14, c \
	VPSUBD   c, Y15, c

// X2UROW: a pair's start: its rows (X4ROWPAIR), Y14 and Y15, R8 =
// rowBytes, the scales (DX), the quants (DI, R11) and the count of blocks
// (CX), the accumulators zeroed.
#define X2UROW \
	X4ROWPAIR \
	MOVL         $0x80808080, AX \
	VMOVD        AX, X14 \
	VPBROADCASTD X14, Y14 \
	VPXOR        Y15, Y15, Y15 \
	MOVQ         rowBytes+8(FP), R8 \
	MOVQ         d4+24(FP), DX \
	MOVQ         xu+32(FP), DI \
	LEAQ         (DI)(R9*4), R11 \
	MOVQ         nb+40(FP), CX \
	X2ZERO16

// X2UBLOCK: both rows' weights of the block (Y8, Y9) and corrections (Y6,
// Y7), after prefetching the next pair's, as intdot4_amd64.h's tiles.
#define X2UBLOCK \
	PREFETCHT0 (R14)(R8*1) \
	PREFETCHT0 (R14)(R8*2) \
	X4UW(SI, Y8) \
	X4UW(R14, Y9) \
	X2UCORR(Y8, Y6) \
	X2UCORR(Y9, Y7)

// X2UVEC4(q, pa, pb, a0, a1, a2, a3, b0, b1, b2, b3): X2UVEC for the
// four vectors at q, q+R9, q+2·R9, q+R10 (scale products pa, pb, lanes
// 0-3) into a0-a3 (first row) and b0-b3 (second).
#define X2UVEC4(q, pa, pb, a0, a1, a2, a3, b0, b1, b2, b3) \
	X2UVEC((q), $0x00, pa, pb, a0, b0) \
	X2UVEC((q)(R9*1), $0x55, pa, pb, a1, b1) \
	X2UVEC((q)(R9*2), $0xaa, pa, pb, a2, b2) \
	X2UVEC((q)(R10*1), $0xff, pa, pb, a3, b3)

// X1SCALES(p, pa): X2SCALES for four vectors: the block scale at p times
// the four vectors' scales at DX, in pa. Clobbers X13.
#define X1SCALES(p, pa) \
	VCVTPH2PS      (p), X13 \
	VBROADCASTSS   X13, Y13 \
	VBROADCASTF128 (DX), pa \
	VMULPS         pa, Y13, pa

// X4UPAIREND(stride, done, next): X2END for four vectors (KX4END of
// intq6k_amd64.h stores a row's).
#define X4UPAIREND(stride, done, next) \
	VMOVAPS Y16, Y0 \
	VMOVAPS Y17, Y1 \
	VMOVAPS Y18, Y2 \
	VMOVAPS Y19, Y3 \
	KX4END(stride) \
	CMPQ    16(SP), $0 \
	JLE     done \
	VMOVAPS Y24, Y0 \
	VMOVAPS Y25, Y1 \
	VMOVAPS Y26, Y2 \
	VMOVAPS Y27, Y3 \
	KX4END(stride) \
	JMP     next
#endif

// func dotQ80x8RowsUVNNI(row *byte, rowBytes, nrows int, d4 *float32, xu *uint8, nb, qstride int, dst *float32, dstStride int)
TEXT NAME_X8UROWS, NOSPLIT, $160-72
	X4FRAME(dst+56(FP), qstride+48(FP))
	MOVQ nb+40(FP), R13
	SHLQ $4, R13 // 16 bytes of four scales a block

u8row:
	CMPQ 16(SP), $0
	JLE  u8done
	X2UROW

u8loop:
	TESTQ    CX, CX
	JZ       u8sum
	X2UBLOCK
	X2SCALES(SI, Y0, Y1)
	X2SCALES(R14, Y2, Y3)
	X2UVEC4(DI, Y0, Y2, Y16, Y17, Y18, Y19, Y24, Y25, Y26, Y27)
	X2UVEC4(R11, Y1, Y3, Y20, Y21, Y22, Y23, Y28, Y29, Y30, Y31)
	ADDQ     BLOCKBYTES, SI
	ADDQ     BLOCKBYTES, R14
	ADDQ     $32, DI
	ADDQ     $32, R11
	ADDQ     $16, DX
	DECQ     CX
	JMP      u8loop

u8sum:
	X2END(dstStride+64(FP), u8done, u8row)

u8done:
	VZEROUPPER
	RET

#ifdef NAME_X4UROWS
// func dotQ80x4RowsUVNNI(row *byte, rowBytes, nrows int, d4 *float32, xu *uint8, nb, qstride int, dst *float32, dstStride int)
TEXT NAME_X4UROWS, NOSPLIT, $160-72
	X4FRAME(dst+56(FP), qstride+48(FP))

u4row:
	CMPQ 16(SP), $0
	JLE  u4done
	X2UROW

u4loop:
	TESTQ    CX, CX
	JZ       u4sum
	X2UBLOCK
	X1SCALES(SI, Y0)
	X1SCALES(R14, Y2)
	X2UVEC4(DI, Y0, Y2, Y16, Y17, Y18, Y19, Y24, Y25, Y26, Y27)
	ADDQ     BLOCKBYTES, SI
	ADDQ     BLOCKBYTES, R14
	ADDQ     $32, DI
	ADDQ     $16, DX
	DECQ     CX
	JMP      u4loop

u4sum:
	X4UPAIREND(dstStride+64(FP), u4done, u4row)

u4done:
	VZEROUPPER
	RET
#endif
