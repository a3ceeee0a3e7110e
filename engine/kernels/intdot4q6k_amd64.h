// The Q6_K product of weight rows with four activation vectors at once,
// included by intdot4_avx2_amd64.s and intdot4_vnni_amd64.s (which define
// I8SETUP, I8DOT and NAME_Q6KX4ROWS). Each group of 32 weights is decoded,
// and its two sub-block scales broadcast, once for the four vectors; per
// vector the arithmetic is dotQ6K's (intdot_amd64.h: Q6KHALF, Q6KGROUP)
// in the same order, so the results are its bits. The quant bytes are read
// from the row for each group rather than held in registers across a
// half, to leave registers for four accumulators (Y0-Y3).
//
// Frame: 0 current row, 8 current output, 16 rows left, 24 the
// super-block's d. Registers as dotQ4Kx4Rows (intdot4k_amd64.h): vector
// v's quants at DI + v·qstride, its scales at DX + v·dstride.

// Q6ONE(x, dx, acc): one vector's share of a group (6-bit values in Y5,
// its scales in Y4): acc += float((Σq·x - Σ32·x)·scale) · d·dx.
#define Q6ONE(x, dx, acc) \
	I8DOT(x, Y5, Y6) \
	I8DOT(x, Y9, Y7) \
	VPSUBD       Y7, Y6, Y6 \
	VPMULLD      Y4, Y6, Y6 \
	VCVTDQ2PS    Y6, Y6 \
	VMOVSS       dx, X7 \
	VMULSS       24(SP), X7, X8 \
	VBROADCASTSS X8, Y8 \
	VFMADD231PS  Y6, Y8, acc

// Q6GROUP(xoff, scoff, dxoff): the group's scales into Y4, then the four
// vectors (the 6-bit values already in Y5).
#define Q6GROUP(xoff, scoff, dxoff) \
	MOVBLSX      scoff(SI), AX \
	MOVBLSX      scoff+1(SI), R8 \
	VMOVD        AX, X4 \
	VPBROADCASTD X4, X4 \
	VMOVD        R8, X6 \
	VPBROADCASTD X6, X6 \
	VINSERTI128  $1, X6, Y4, Y4 \
	Q6ONE(xoff(DI), dxoff(DX), Y0) \
	Q6ONE(xoff(DI)(R9*1), dxoff(DX)(R12*1), Y1) \
	Q6ONE(xoff(DI)(R9*2), dxoff(DX)(R12*2), Y2) \
	Q6ONE(xoff(DI)(R10*1), dxoff(DX)(R13*1), Y3)

// Q6HALF: Q6KHALF's four groups, each decoded from the row's bytes.
#define Q6HALF(qloff, qhoff, xoff, scoff, dxoff) \
	VPAND   qloff(SI), Y14, Y5 \
	VPAND   qhoff(SI), Y13, Y6 \
	VPSLLW  $4, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6GROUP(xoff, scoff, dxoff) \
	VPAND   qloff+32(SI), Y14, Y5 \
	VPAND   qhoff(SI), Y12, Y6 \
	VPSLLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6GROUP(xoff+32, scoff+2, dxoff+4) \
	VMOVDQU qloff(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPAND   qhoff(SI), Y11, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6GROUP(xoff+64, scoff+4, dxoff+8) \
	VMOVDQU qloff+32(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPAND   qhoff(SI), Y10, Y6 \
	VPSRLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6GROUP(xoff+96, scoff+6, dxoff+12)

#define Q6BYTES(c, reg) \
	MOVL         c, AX \
	VMOVD        AX, X8 \
	VPBROADCASTD X8, reg

// func dotQ6Kx4Rows(row *byte, rowBytes, nrows int, d *float32, qs *int8, nsb, qstride, dstride int, dst *float32, dstStride int)
TEXT NAME_Q6KX4ROWS, NOSPLIT, $32-80
	MOVQ row+0(FP), AX
	MOVQ AX, 0(SP)
	MOVQ dst+64(FP), AX
	MOVQ AX, 8(SP)
	MOVQ nrows+16(FP), AX
	MOVQ AX, 16(SP)
	MOVQ qstride+48(FP), R9
	LEAQ (R9)(R9*2), R10
	MOVQ dstride+56(FP), R12
	LEAQ (R12)(R12*2), R13
	I8SETUP
	Q6BYTES($0x0f0f0f0f, Y14)
	Q6BYTES($0x03030303, Y13)
	Q6BYTES($0x0c0c0c0c, Y12)
	Q6BYTES($0x30303030, Y11)
	Q6BYTES($0xc0c0c0c0, Y10)
	Q6BYTES($0x20202020, Y9)

q6row:
	CMPQ   16(SP), $0
	JLE    q6done
	MOVQ   0(SP), SI
	MOVQ   d+24(FP), DX
	MOVQ   qs+32(FP), DI
	MOVQ   nsb+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

q6loop:
	TESTQ     CX, CX
	JZ        q6sum
	MOVWLZX   208(SI), AX
	VMOVD     AX, X6
	VCVTPH2PS X6, X6
	VMOVSS    X6, 24(SP)
	Q6HALF(0, 128, 0, 192, 0)
	Q6HALF(64, 160, 128, 200, 16)
	ADDQ      $210, SI
	ADDQ      $256, DI
	ADDQ      $32, DX
	DECQ      CX
	JMP       q6loop

q6sum:
	VEXTRACTF128 $1, Y0, X7
	VADDPS       X7, X0, X0
	VEXTRACTF128 $1, Y1, X7
	VADDPS       X7, X1, X1
	VEXTRACTF128 $1, Y2, X7
	VADDPS       X7, X2, X2
	VEXTRACTF128 $1, Y3, X7
	VADDPS       X7, X3, X3
	VHADDPS      X1, X0, X0
	VHADDPS      X3, X2, X2
	VHADDPS      X2, X0, X0
	MOVQ         8(SP), AX
	MOVQ         dstStride+72(FP), R8
	SHLQ         $2, R8
	VMOVSS       X0, (AX)
	VEXTRACTPS   $1, X0, (AX)(R8*1)
	LEAQ         (AX)(R8*2), R11
	VEXTRACTPS   $2, X0, (R11)
	VEXTRACTPS   $3, X0, (R11)(R8*1)
	ADDQ         $4, AX
	MOVQ         AX, 8(SP)
	MOVQ         rowBytes+8(FP), AX
	ADDQ         AX, 0(SP)
	DECQ         16(SP)
	JMP          q6row

q6done:
	VZEROUPPER
	RET
