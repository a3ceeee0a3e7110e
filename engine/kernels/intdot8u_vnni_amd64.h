// The product of Q8_0 weight rows with eight activation vectors at once,
// two rows at a time, AVX-512 VNNI only, with the roles of
// intdot8_vnni_amd64.h's tile turned round: the activations unsigned
// (x+128, qvec.u8) and the weights as they are, signed. VPDPBUSD then
// sums (x+128)·w = x·w + 128·w over each four-byte group, and the
// correction -128·Σw belongs to the weight row, not to the vector: it is
// made once a row and block (one VPDPBUSD and a subtraction) for all
// eight vectors, where the other tile loads a correction per vector and
// row, 32 bytes besides each vector's 32 quants. A vector's block is then
// 32 bytes read, half the other tile's, which keeps eight vectors' blocks
// of a 8192-wide row (64 KiB) where the other tile's (128 KiB) spilled to
// the second-level cache. The integer lanes are the exact sums Σ x·w of
// the one-vector kernel, and the float arithmetic after them is
// intdot8_vnni_amd64.h's (the same product dw·dx, FMA and horizontal
// sum, in the same order), so the results are its bits.
//
// Frame and registers as intdot8_vnni_amd64.h's, but with no corrections
// (BX, R12): vector v's unsigned quants at DI + v·qstride for v < 4, R11
// + (v-4)·qstride for the others; Y6 and Y7 the two rows' corrections of
// the current block, Y14 bytes of 128, Y15 zero.

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

// func dotQ80x8RowsUVNNI(row *byte, rowBytes, nrows int, d4 *float32, xu *uint8, nb, qstride int, dst *float32, dstStride int)
TEXT ·dotQ80x8RowsUVNNI(SB), NOSPLIT, $160-72
	X4FRAME(dst+56(FP), qstride+48(FP))
	MOVQ nb+40(FP), R13
	SHLQ $4, R13 // 16 bytes of four scales a block

u2row:
	CMPQ         16(SP), $0
	JLE          u2done
	X4ROWPAIR
	MOVL         $0x80808080, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VPXOR        Y15, Y15, Y15
	MOVQ         rowBytes+8(FP), R8
	MOVQ         d4+24(FP), DX
	MOVQ         xu+32(FP), DI
	LEAQ         (DI)(R9*4), R11
	MOVQ         nb+40(FP), CX
	X2ZERO16

u2loop:
	TESTQ      CX, CX
	JZ         u2sum
	PREFETCHT0 (R14)(R8*1)
	PREFETCHT0 (R14)(R8*2)
	VMOVDQU    2(SI), Y8
	VMOVDQU    2(R14), Y9
	X2UCORR(Y8, Y6)
	X2UCORR(Y9, Y7)
	X2SCALES(SI, Y0, Y1)
	X2SCALES(R14, Y2, Y3)
	X2UVEC((DI), $0x00, Y0, Y2, Y16, Y24)
	X2UVEC((DI)(R9*1), $0x55, Y0, Y2, Y17, Y25)
	X2UVEC((DI)(R9*2), $0xaa, Y0, Y2, Y18, Y26)
	X2UVEC((DI)(R10*1), $0xff, Y0, Y2, Y19, Y27)
	X2UVEC((R11), $0x00, Y1, Y3, Y20, Y28)
	X2UVEC((R11)(R9*1), $0x55, Y1, Y3, Y21, Y29)
	X2UVEC((R11)(R9*2), $0xaa, Y1, Y3, Y22, Y30)
	X2UVEC((R11)(R10*1), $0xff, Y1, Y3, Y23, Y31)
	ADDQ       $34, SI
	ADDQ       $34, R14
	ADDQ       $32, DI
	ADDQ       $32, R11
	ADDQ       $16, DX
	DECQ       CX
	JMP        u2loop

u2sum:
	X2END(dstStride+64(FP), u2done, u2row)

u2done:
	VZEROUPPER
	RET
