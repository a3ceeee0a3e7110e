// The product of weight rows of a 32-element block type whose VNNI
// build takes the weights unsigned (Q8_0 as w+128, Q5_0 as w+16: X4UPAIR)
// with eight activation vectors at once, two rows at a time, AVX-512 VNNI
// only: assembled for each such type by intdot4_types_amd64.h
// (NAME_X8ROWS2, BLOCKBYTES, X4W as for intdot4_amd64.h). A tile is two
// rows by eight vectors, sixteen accumulators in Y16-Y31, which only
// AVX-512VL's 32 registers leave room for: each weight block is unpacked
// and its scale converted once for eight vectors, as in intdot8_amd64.h,
// and each vector's block and corrections loaded once for two rows. The
// scale products dw·dx of a block stay in registers, four vectors' to a
// register and row (X2SCALES, each product in both lanes), and each row
// and vector's is picked out by one VSHUFPS before its FMA. Per row and
// vector the arithmetic is the one-vector kernel's in the same order (the same
// integer lanes, the same product dw·dx, the same FMA and horizontal sum),
// so the results are its bits.
//
// Frame: 0 current row, 8 current output, 16 rows left, 24 and 56 X4W's
// (unused) signed weights; the rest of the frame is unused.
// Vector v's quants (corrections) are at DI (BX) + v·qstride for v < 4
// and R11 (R12) + (v-4)·qstride for the others (R9 = qstride, R10 =
// 3·qstride); the block scales of vectors 0-3 are interleaved at DX, of
// vectors 4-7 at DX + R13. The rows are SI and R14 (R14 = SI for an odd
// last row, whose results are then stored once); R8 = rowBytes.

#ifndef X2DEFS
#define X2DEFS
// X2VEC(q, c, s, a0, a1): one vector's share of both rows' blocks (the
// weights, unsigned, in Y8 and Y9): its quants at q, corrections at c,
// scale products with the two rows at s(SP) and s+32(SP).
#define X2VEC(q, c, sel, pa, pb, a0, a1) \
	VMOVDQU     q, Y12 \
	VMOVDQU     c, Y10 \
	VMOVDQU     c, Y11 \
	VPDPBUSD    Y12, Y8, Y10 \
	VPDPBUSD    Y12, Y9, Y11 \
	VCVTDQ2PS   Y10, Y10 \
	VCVTDQ2PS   Y11, Y11 \
	VSHUFPS     sel, pa, pa, Y4 \
	VSHUFPS     sel, pb, pb, Y5 \
	VFMADD231PS Y10, Y4, a0 \
	VFMADD231PS Y11, Y5, a1

// X2SCALES(p, pa, pb): the block scale (f16) at p times the four
// vectors' scales at DX (to pa) and at DX+R13 (to pb), each product twice.
// Clobbers X13.
#define X2SCALES(p, pa, pb) \
	VCVTPH2PS      (p), X13 \
	VBROADCASTSS   X13, Y13 \
	VBROADCASTF128 (DX), pa \
	VMULPS         pa, Y13, pa \
	VBROADCASTF128 (DX)(R13*1), pb \
	VMULPS         pb, Y13, pb

// X2ZERO16: Y16-Y31 zeroed (as Z16-Z31), the accumulators of the wide tiles.
#define X2ZERO16 \
	VPXORD Y16, Y16, Y16 \
	VPXORD Y17, Y17, Y17 \
	VPXORD Y18, Y18, Y18 \
	VPXORD Y19, Y19, Y19 \
	VPXORD Y20, Y20, Y20 \
	VPXORD Y21, Y21, Y21 \
	VPXORD Y22, Y22, Y22 \
	VPXORD Y23, Y23, Y23 \
	VPXORD Y24, Y24, Y24 \
	VPXORD Y25, Y25, Y25 \
	VPXORD Y26, Y26, Y26 \
	VPXORD Y27, Y27, Y27 \
	VPXORD Y28, Y28, Y28 \
	VPXORD Y29, Y29, Y29 \
	VPXORD Y30, Y30, Y30 \
	VPXORD Y31, Y31, Y31

// X2MOVE(a, b, c, d, e, f, g, h): a row's accumulators to Y0-Y7, where
// X8END sums them.
#define X2MOVE(a, b, c, d, e, f, g, h) \
	VMOVAPS a, Y0 \
	VMOVAPS b, Y1 \
	VMOVAPS c, Y2 \
	VMOVAPS d, Y3 \
	VMOVAPS e, Y4 \
	VMOVAPS f, Y5 \
	VMOVAPS g, Y6 \
	VMOVAPS h, Y7

// X2END(stride, done, next): a pair's end: both rows' sums stored (an odd
// last row, its own pair, once), then on to next, or to done after the
// last row (stride the argument dstStride).
#define X2END(stride, done, next) \
	X2MOVE(Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23) \
	X8END(stride, Y4, Y5, Y6, Y7, X4, X5, X6, X7) \
	CMPQ 16(SP), $0 \
	JLE  done \
	X2MOVE(Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31) \
	X8END(stride, Y4, Y5, Y6, Y7, X4, X5, X6, X7) \
	JMP  next
#endif

// func dotQ80x8Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)
TEXT NAME_X8ROWS2, NOSPLIT, $160-80
	X4FRAME(dst+64(FP), qstride+56(FP))
	MOVQ nb+48(FP), R13
	SHLQ $4, R13 // 16 bytes of four scales a block

x2row:
	CMPQ   16(SP), $0
	JLE    x2done
	X4ROWPAIR
	MOVQ   rowBytes+8(FP), R8
	MOVQ   d4+24(FP), DX
	MOVQ   qs+32(FP), DI
	LEAQ   (DI)(R9*4), R11
	MOVQ   corr+40(FP), BX
	LEAQ   (BX)(R9*4), R12
	MOVQ   nb+48(FP), CX
	X2ZERO16

x2loop:
	TESTQ      CX, CX
	JZ         x2sum
	// The next pair's bytes, as intdot4_amd64.h's tiles.
	PREFETCHT0 (R14)(R8*1)
	PREFETCHT0 (R14)(R8*2)
	X4W(SI, Y8, 24(SP))
	X4W(R14, Y9, 56(SP))
	X2SCALES(SI, Y0, Y1)
	X2SCALES(R14, Y2, Y3)
	X2VEC((DI), (BX), $0x00, Y0, Y2, Y16, Y24)
	X2VEC((DI)(R9*1), (BX)(R9*1), $0x55, Y0, Y2, Y17, Y25)
	X2VEC((DI)(R9*2), (BX)(R9*2), $0xaa, Y0, Y2, Y18, Y26)
	X2VEC((DI)(R10*1), (BX)(R10*1), $0xff, Y0, Y2, Y19, Y27)
	X2VEC((R11), (R12), $0x00, Y1, Y3, Y20, Y28)
	X2VEC((R11)(R9*1), (R12)(R9*1), $0x55, Y1, Y3, Y21, Y29)
	X2VEC((R11)(R9*2), (R12)(R9*2), $0xaa, Y1, Y3, Y22, Y30)
	X2VEC((R11)(R10*1), (R12)(R10*1), $0xff, Y1, Y3, Y23, Y31)
	ADDQ       BLOCKBYTES, SI
	ADDQ       BLOCKBYTES, R14
	ADDQ       $32, DI
	ADDQ       $32, R11
	ADDQ       $32, BX
	ADDQ       $32, R12
	ADDQ       $16, DX
	DECQ       CX
	JMP        x2loop

x2sum:
	X2END(dstStride+72(FP), x2done, x2row)

x2done:
	VZEROUPPER
	RET
