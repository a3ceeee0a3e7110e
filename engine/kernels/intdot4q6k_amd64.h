// The Q6_K product of weight rows with four activation vectors at once,
// included by intdot4_avx2_amd64.s and intdot4_vnni_amd64.s (which define
// X4UDOT and NAME_Q6KX4ROWS). Each group of 32 weights is decoded,
// and its two sub-block scales broadcast, once for the four vectors; per
// vector the arithmetic is dotQ6K's (intdot_amd64.h: Q6KHALF, Q6KGROUP)
// in the same order, so the results are its bits. The quant bytes are read
// from the row for each group rather than held in registers across a
// half, to leave registers for four accumulators (Y0-Y3).
//
// Frame: 0 current row, 8 current output, 16 rows left. Vector v's
// quants at DI + v·qstride (R9 = qstride, R10 = 3·qstride), its
// corrections at BX + v·qstride; the four vectors' block scales
// interleaved at DX, 16 bytes a block.

// Q6SCALES(bcast, scoff): the group's two sub-block scales, in Y4's lower
// and upper halves: as int32 (bcast VPBROADCASTD) or int16 (VPBROADCASTW).
#define Q6SCALES(bcast, scoff) \
	MOVBLSX      scoff(SI), AX \
	MOVBLSX      scoff+1(SI), R8 \
	VMOVD        AX, X4 \
	bcast        X4, X4 \
	VMOVD        R8, X6 \
	bcast        X6, X6 \
	VINSERTI128  $1, X6, Y4, Y4

#ifdef X4VNNI
// Q6ONE(x, c, sel, acc): one vector's share of a group (6-bit values in
// Y5, its scales in Y4, the products d·dx of the four vectors in Y8, of
// which sel picks this one's): acc += float((Σq·x - Σ32·x)·scale) · d·dx,
// with -Σ32·x per lane precomputed (c, x4corr's c32) rather than a second
// dot product.
#define Q6ONE(x, c, sel, acc) \
	X4UDOT(x, Y5, c, Y6) \
	VPMULLD     Y4, Y6, Y6 \
	VCVTDQ2PS   Y6, Y6 \
	VSHUFPS     sel, Y8, Y8, Y7 \
	VFMADD231PS Y6, Y7, acc

// Q6W: the group's weights as Q6ONE takes them (in Y5), and its scales.
#define Q6W(scoff) Q6SCALES(VPBROADCASTD, scoff)
#else
// Q6ONE(x, c, sel, acc), AVX2: the weights w = q-32 by the sign trick (|w|
// in Y5, w in Y15): VPMADDUBSW's pair sums Σ|w|·(x with w's sign) are
// Σ(q-32)·x (at most 2·32·127, no saturation), and one VPMADDWD by the
// scales as int16 widens and scales them: the integer lanes of X4UDOT and
// VPMULLD in as many instructions, with no correction to load (c is
// unused), and the signs split once a group, which the eight-vector tile
// (intdot8q6k_amd64.h) then shares among eight vectors.
#define Q6ONE(x, c, sel, acc) \
	VMOVDQU     x, Y6 \
	VPSIGNB     Y15, Y6, Y6 \
	VPMADDUBSW  Y6, Y5, Y6 \
	VPMADDWD    Y4, Y6, Y6 \
	VCVTDQ2PS   Y6, Y6 \
	VSHUFPS     sel, Y8, Y8, Y7 \
	VFMADD231PS Y6, Y7, acc

// Q6W: the 6-bit values q in Y5 made |q-32| (Y5) and q-32 (Y15;
// x4thirtytwo, intdot4_types_amd64.h), and the scales as int16.
#define Q6W(scoff) \
	VPSUBB x4thirtytwo<>(SB), Y5, Y15 \
	VPABSB Y15, Y5 \
	Q6SCALES(VPBROADCASTW, scoff)
#endif

// Q6GROUP(xoff, scoff, dxoff): the group's scales into Y4 and its scale
// products into Y8 (d in Y9; the four vectors' block scales interleaved at
// dxoff(DX)), then the four vectors (the 6-bit values already in Y5).
#define Q6GROUP(xoff, scoff, dxoff) \
	Q6W(scoff) \
	VBROADCASTF128 dxoff(DX), Y8 \
	VMULPS       Y9, Y8, Y8 \
	Q6ONE(xoff(DI), xoff(BX), $0x00, Y0) \
	Q6ONE(xoff(DI)(R9*1), xoff(BX)(R9*1), $0x55, Y1) \
	Q6ONE(xoff(DI)(R9*2), xoff(BX)(R9*2), $0xaa, Y2) \
	Q6ONE(xoff(DI)(R10*1), xoff(BX)(R10*1), $0xff, Y3)

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
	Q6GROUP(xoff+32, scoff+2, dxoff+16) \
	VMOVDQU qloff(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPAND   qhoff(SI), Y11, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6GROUP(xoff+64, scoff+4, dxoff+32) \
	VMOVDQU qloff+32(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPAND   qhoff(SI), Y10, Y6 \
	VPSRLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6GROUP(xoff+96, scoff+6, dxoff+48)

#define Q6BYTES(c, reg) \
	MOVL         c, AX \
	VMOVD        AX, X8 \
	VPBROADCASTD X8, reg

// func dotQ6Kx4Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, c32 *int32, nsb, qstride int, dst *float32, dstStride int)
TEXT NAME_Q6KX4ROWS, NOSPLIT, $32-80
	X4FRAME(dst+64(FP), qstride+56(FP))
	Q6BYTES($0x0f0f0f0f, Y14)
	Q6BYTES($0x03030303, Y13)
	Q6BYTES($0x0c0c0c0c, Y12)
	Q6BYTES($0x30303030, Y11)
	Q6BYTES($0xc0c0c0c0, Y10)

q6row:
	CMPQ   16(SP), $0
	JLE    q6done
	MOVQ   0(SP), SI
	MOVQ   d4+24(FP), DX
	MOVQ   qs+32(FP), DI
	MOVQ   c32+40(FP), BX
	MOVQ   nsb+48(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

q6loop:
	TESTQ      CX, CX
	JZ         q6sum
	// Six super-blocks ahead, as dotQ4Kx4Rows.
	PREFETCHT0 1260(SI)
	PREFETCHT0 1324(SI)
	PREFETCHT0 1388(SI)
	PREFETCHT0 1452(SI)
	MOVWLZX      208(SI), AX
	VMOVD        AX, X6
	VCVTPH2PS    X6, X6
	VBROADCASTSS X6, Y9
	Q6HALF(0, 128, 0, 192, 0)
	Q6HALF(64, 160, 128, 200, 64)
	ADDQ         $210, SI
	ADDQ         $256, DI
	ADDQ         $256, BX
	ADDQ         $128, DX
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
