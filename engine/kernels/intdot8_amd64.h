// The product of weight rows of a 32-element block type (Q8_0, Q5_0,
// Q4_0) with eight activation vectors at once, AVX2 only: written once and
// assembled for each type by intdot4_types_amd64.h (NAME_X8ROWS,
// BLOCKBYTES, X4W, X4PAIR and X4WS0 as for intdot4_amd64.h, whose X4HSUM
// it uses). A tile is one row by eight vectors, eight accumulators: each
// weight block is unpacked and its scale converted once for eight
// vectors, where the two-row, four-vector tile does it once for four
// (batched decode has eight vectors, and the unpacking is most of what a
// block costs besides the vectors' products). Per row and vector the
// arithmetic is the one-vector kernel's in the same order, so the results
// are its bits.
//
// Frame: 0 current row, 8 current output, 16 rows left, 24 the row's
// signed weights (for the types whose X4W keeps them there). Vector v's
// quants (and corrections) are at DI (BX) + v·qstride for v < 4 and R11
// (R12) + (v-4)·qstride for the others (R9 = qstride, R10 = 3·qstride);
// the block scales of vectors 0-3 are interleaved at DX, of vectors 4-7
// at DX + R13. Accumulators Y0-Y7; the row's weights in Y8, VPMADDWD's
// ones in Y9, the row's scale products with vectors 0-3 in Y10, with
// vectors 4-7 in Y11.

// VPMADDWD's constant in Y9 here (the four-vector tiles, out of registers,
// read it from memory): one 32-byte load fewer for each vector's block.
#undef X4ONES
#define X4ONES Y9

#ifndef X8DEFS
#define X8DEFS
// X8VEC(q, c, p, sel, acc): one vector's share of the row's block.
#define X8VEC(q, c, p, sel, acc) \
	VMOVDQU q, Y12 \
	X4PAIR(X4WS0, c, Y8, p, sel, acc)
#endif

// func dotQ80x8Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)
TEXT NAME_X8ROWS, NOSPLIT, $56-80
	X4FRAME(dst+64(FP), qstride+56(FP))
	MOVQ nb+48(FP), R13
	SHLQ $4, R13 // 16 bytes of four scales a block
	MOVL         $0x00010001, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9

x8row:
	CMPQ   16(SP), $0
	JLE    x8done
	MOVQ   0(SP), SI
	MOVQ   d4+24(FP), DX
	MOVQ   qs+32(FP), DI
	LEAQ   (DI)(R9*4), R11
	MOVQ   corr+40(FP), BX
	LEAQ   (BX)(R9*4), R12
	MOVQ   nb+48(FP), CX
	X4ZERO8

x8loop:
	TESTQ          CX, CX
	JZ             x8sum
	X4W(SI, Y8, 24(SP))
	VCVTPH2PS      (SI), X13
	VBROADCASTSS   X13, Y13
	VBROADCASTF128 (DX), Y10
	VMULPS         Y10, Y13, Y10
	VBROADCASTF128 (DX)(R13*1), Y11
	VMULPS         Y11, Y13, Y11
	X8VEC((DI), (BX), Y10, $0x00, Y0)
	X8VEC((DI)(R9*1), (BX)(R9*1), Y10, $0x55, Y1)
	X8VEC((DI)(R9*2), (BX)(R9*2), Y10, $0xaa, Y2)
	X8VEC((DI)(R10*1), (BX)(R10*1), Y10, $0xff, Y3)
	X8VEC((R11), (R12), Y11, $0x00, Y4)
	X8VEC((R11)(R9*1), (R12)(R9*1), Y11, $0x55, Y5)
	X8VEC((R11)(R9*2), (R12)(R9*2), Y11, $0xaa, Y6)
	X8VEC((R11)(R10*1), (R12)(R10*1), Y11, $0xff, Y7)
	ADDQ           BLOCKBYTES, SI
	ADDQ           $32, DI
	ADDQ           $32, R11
	ADDQ           $32, BX
	ADDQ           $32, R12
	ADDQ           $16, DX
	DECQ           CX
	JMP            x8loop

x8sum:
	X8END(dstStride+72(FP), Y4, Y5, Y6, Y7, X4, X5, X6, X7)
	JMP x8row

x8done:
	VZEROUPPER
	RET

#undef X4ONES
#define X4ONES x4ones<>(SB)
