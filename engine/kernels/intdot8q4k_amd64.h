// The Q4_K product of weight rows with eight activation vectors at once,
// AVX2 only (included by intdot4_avx2_amd64.s after intdot4k_amd64.h,
// whose K4HEAD, K4NIB, K4SUM and K4STORE it shares; the VNNI build takes
// only its macros, for intdot8q4k_vnni_amd64.h). Eight vectors' even
// and odd accumulators would take all 16 registers, so a row is taken in
// groups of up to eight super-blocks: first each super-block's header is
// decoded, its nibbles split and its eight vectors' coefficients d·dx·sc
// computed once, into a buffer in the frame (512 bytes a super-block, in
// the first-level cache); then vectors 0-3 and then 4-7 run over the
// group's unpacked nibbles with their accumulators in registers, saved in
// the frame between groups. Per row and vector the arithmetic is dotQ4K's
// (KSETUP, KPAIR, KRETURN) in the same order, so the results are its bits.
//
// Frame: 0 current row, 8 current output, 16 rows left, 24 super-blocks in
// the group; 160 + 256h the accumulators of half h (0: vectors 0-3, 1: 4-7;
// even, odd sub-blocks of its four vectors in turn); 672 + 32v vector v's
// mins term; 928 the group's count down, 936 the half; from 960 the buffer,
// aligned to 32 bytes: per super-block its split nibbles (low and high
// 32 bytes of each 64-element chunk) and at 256 + 32v vector v's eight
// coefficients.
//
// Vector v's quants are at DI + v·qstride (R9 = qstride, R10 =
// 3·qstride), its scales and block sums at DX and BX + v·dstride.

// K8BUF(r): the buffer's aligned address in r.
#define K8BUF(r) \
	LEAQ 960(SP), r \
	ADDQ $31, r \
	ANDQ $-32, r

// K8STORE(v): vector v's coefficients (Y13) to the buffer;
// intdot8q4k_vnni_amd64.h stores them otherwise.
#define K8STORE(v) VMOVUPS Y13, 256+v(R14)

// K8SETUP(dv, sv, v, acc): vector v's coefficients (d·dx)·sc to the
// buffer (R14), and its mins term acc += cvt(sum) · ((dmin·dx)·m), as
// K4SETUP, with the header in registers (K8HEAD). Clobbers Y12, Y13.
#define K8SETUP(dv, sv, v, acc) \
	VMOVUPS     dv, Y12 \
	VMULPS      Y8, Y12, Y13 \
	VMULPS      Y9, Y13, Y13 \
	K8STORE(v) \
	VMULPS      Y10, Y12, Y13 \
	VMULPS      Y11, Y13, Y13 \
	VCVTDQ2PS   sv, Y12 \
	VFMADD231PS Y12, Y13, acc

// K8HEAD: the header of the super-block at SI, as K4HEAD's, in registers:
// d (Y8) and dmin (Y10) broadcast, the scales (Y9) and mins (Y11).
// Clobbers AX, R8, R11, Y12.
#define K8HEAD \
	K4HALF((SI), Y8) \
	K4HALF(2(SI), Y10) \
	K4SCALES(SI, 4, $0, Y9) \
	K4SCALES(SI, 8, $4, Y11)

// K8SPLIT(qoff, boff): a chunk's nibbles at qoff(SI) split to the buffer.
#define K8SPLIT(qoff, boff) \
	K4NIB(VMOVDQU, VPAND, qoff(SI), Y12, Y13) \
	VMOVDQU Y12, boff(R14) \
	VMOVDQU Y13, boff+32(R14)

// K8PAIR(xlo, xhi, cv, clo, chi, acce, acco): a vector's sub-block pair
// of a chunk (nibbles in Y6 and Y7) against its activation bytes at xlo
// and xhi, its coefficients at cv+clo(R8) and cv+chi(R8), as K4PAIR.
#define K8PAIR(xlo, xhi, cv, clo, chi, acce, acco) \
	I8DOT(xlo, Y6, Y4) \
	I8DOT(xhi, Y7, Y12) \
	VCVTDQ2PS    Y4, Y4 \
	VCVTDQ2PS    Y12, Y12 \
	VBROADCASTSS cv+clo(R8), Y5 \
	VBROADCASTSS cv+chi(R8), Y13 \
	VFMADD231PS  Y4, Y5, acce \
	VFMADD231PS  Y12, Y13, acco

// K8CHUNK(xoff, clo, chi): one 64-element chunk for a half's four vectors.
#define K8CHUNK(xoff, clo, chi) \
	VMOVDQU xoff(R14), Y6 \
	VMOVDQU xoff+32(R14), Y7 \
	K8PAIR(xoff(R11), xoff+32(R11), 0, clo, chi, Y0, Y1) \
	K8PAIR(xoff(R11)(R9*1), xoff+32(R11)(R9*1), 32, clo, chi, Y2, Y3) \
	K8PAIR(xoff(R11)(R9*2), xoff+32(R11)(R9*2), 64, clo, chi, Y8, Y9) \
	K8PAIR(xoff(R11)(R10*1), xoff+32(R11)(R10*1), 96, clo, chi, Y10, Y11)

// K8LOAD(p), K8SAVE(p): a half's accumulators from or to p.
#define K8LOAD(p) \
	VMOVUPS 0(p), Y0 \
	VMOVUPS 32(p), Y1 \
	VMOVUPS 64(p), Y2 \
	VMOVUPS 96(p), Y3 \
	VMOVUPS 128(p), Y8 \
	VMOVUPS 160(p), Y9 \
	VMOVUPS 192(p), Y10 \
	VMOVUPS 224(p), Y11

#define K8SAVE(p) \
	VMOVUPS Y0, 0(p) \
	VMOVUPS Y1, 32(p) \
	VMOVUPS Y2, 64(p) \
	VMOVUPS Y3, 96(p) \
	VMOVUPS Y8, 128(p) \
	VMOVUPS Y9, 160(p) \
	VMOVUPS Y10, 192(p) \
	VMOVUPS Y11, 224(p)

// K8MINSLOAD, K8MINSSAVE: the eight mins terms, Y0-Y7, from or to the frame.
#define K8MINSLOAD \
	VMOVUPS 672(SP), Y0 \
	VMOVUPS 704(SP), Y1 \
	VMOVUPS 736(SP), Y2 \
	VMOVUPS 768(SP), Y3 \
	VMOVUPS 800(SP), Y4 \
	VMOVUPS 832(SP), Y5 \
	VMOVUPS 864(SP), Y6 \
	VMOVUPS 896(SP), Y7

#define K8MINSSAVE \
	VMOVUPS Y0, 672(SP) \
	VMOVUPS Y1, 704(SP) \
	VMOVUPS Y2, 736(SP) \
	VMOVUPS Y3, 768(SP) \
	VMOVUPS Y4, 800(SP) \
	VMOVUPS Y5, 832(SP) \
	VMOVUPS Y6, 864(SP) \
	VMOVUPS Y7, 896(SP)

#ifdef NAME_Q4KX8ROWS
// func dotQ4Kx8Rows(row *byte, rowBytes, nrows int, d *float32, qs *int8, sum *int32, nsb, qstride, dstride int, dst *float32, dstStride int)
// Not NOSPLIT: the frame is over the nosplit limit.
TEXT NAME_Q4KX8ROWS, 0, $5088-88
	X4FRAME(dst+72(FP), qstride+56(FP))
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

k8row:
	CMPQ   16(SP), $0
	JLE    k8done
	// K4SUM takes Y15, I8SETUP's constant.
	I8SETUP
	MOVQ   0(SP), SI
	MOVQ   d+24(FP), DX
	MOVQ   qs+32(FP), DI
	MOVQ   sum+40(FP), BX
	MOVQ   nsb+48(FP), CX
	// The accumulators and mins terms zeroed (160 to 928).
	VXORPS Y0, Y0, Y0
	LEAQ   160(SP), R12
	MOVQ   $24, AX

k8zero:
	VMOVUPS Y0, (R12)
	ADDQ    $32, R12
	DECQ    AX
	JNZ     k8zero

k8group:
	TESTQ CX, CX
	JZ    k8sum
	MOVQ  CX, AX
	CMPQ  AX, $8
	JLE   k8n
	MOVQ  $8, AX

k8n:
	MOVQ AX, 24(SP)
	MOVQ AX, 928(SP)
	MOVQ dstride+64(FP), R12
	LEAQ (R12)(R12*2), R13
	K8BUF(R14)
	K8MINSLOAD

k8unpack:
	// Eight super-blocks ahead, as the four-vector tile.
	K4PREFETCH(SI)
	K8SPLIT(16, 0)
	K8SPLIT(48, 64)
	K8SPLIT(80, 128)
	K8SPLIT(112, 192)
	K8HEAD
	K8SETUP((DX), (BX), 0, Y0)
	K8SETUP((DX)(R12*1), (BX)(R12*1), 32, Y1)
	K8SETUP((DX)(R12*2), (BX)(R12*2), 64, Y2)
	K8SETUP((DX)(R13*1), (BX)(R13*1), 96, Y3)
	LEAQ (DX)(R12*4), R8
	LEAQ (BX)(R12*4), R11
	K8SETUP((R8), (R11), 128, Y4)
	K8SETUP((R8)(R12*1), (R11)(R12*1), 160, Y5)
	K8SETUP((R8)(R12*2), (R11)(R12*2), 192, Y6)
	K8SETUP((R8)(R13*1), (R11)(R13*1), 224, Y7)
	ADDQ $144, SI
	ADDQ $32, DX
	ADDQ $32, BX
	ADDQ $512, R14
	DECQ 928(SP)
	JNZ  k8unpack

	K8MINSSAVE
	MOVQ $0, 936(SP)

k8half:
	// R14 the buffer, R8 the half's coefficients, R12 its accumulators,
	// R11 its first vector's quants.
	K8BUF(R14)
	MOVQ 936(SP), AX
	SHLQ $7, AX
	LEAQ 256(R14)(AX*1), R8
	LEAQ 160(SP)(AX*2), R12
	MOVQ 936(SP), AX
	IMULQ R9, AX
	LEAQ (DI)(AX*4), R11
	K8LOAD(R12)
	MOVQ 24(SP), AX

k8loop:
	K8CHUNK(0, 0, 4)
	K8CHUNK(64, 8, 12)
	K8CHUNK(128, 16, 20)
	K8CHUNK(192, 24, 28)
	ADDQ $512, R14
	ADDQ $512, R8
	ADDQ $256, R11
	DECQ AX
	JNZ  k8loop

	K8SAVE(R12)
	INCQ 936(SP)
	CMPQ 936(SP), $2
	JLT  k8half

	// The group done: the quants past it, and the next.
	MOVQ 24(SP), AX
	SUBQ AX, CX
	SHLQ $8, AX
	ADDQ AX, DI
	JMP  k8group

k8sum:
	MOVQ dstStride+80(FP), R8
	SHLQ $2, R8
	LEAQ 160(SP), R12
	K8LOAD(R12)
	K4SUM(672)
	MOVQ 8(SP), AX
	K4STORE(AX)
	LEAQ 416(SP), R12
	K8LOAD(R12)
	K4SUM(800)
	LEAQ (AX)(R8*4), AX
	K4STORE(AX)
	ADDQ $4, 8(SP)
	MOVQ rowBytes+8(FP), AX
	ADDQ AX, 0(SP)
	DECQ 16(SP)
	JMP  k8row

k8done:
	VZEROUPPER
	RET
#endif
