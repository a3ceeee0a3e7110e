// The Q4_K product of weight rows with four activation vectors at once,
// included by intdot4_avx2_amd64.s and intdot4_vnni_amd64.s (which define
// I8SETUP, I8DOT and NAME_Q4KX4ROWS). Each super-block's scales and mins
// are unpacked and its nibbles split once for the four vectors. Per
// vector the arithmetic is dotQ4K's (intdot_amd64.h: KSETUP, KPAIR,
// KRETURN) in the same order, so the results are its bits.
//
// Frame: 0 current row, 8 current output, 16 rows left; 32 d, 64 dmin,
// 96 scales, 128 mins (8 floats each, broadcast or per sub-block); 160 +
// 32v vector v's coefficients d·dx·sc; 288 + 32v its mins term.
//
// Vector v's quants are at DI + v·qstride (R9 = qstride, R10 = 3·qstride),
// its scales and block sums at DX and BX + v·dstride (R12, R13 = 3·dstride).
// Accumulators (even, odd sub-blocks): Y0 Y1, Y2 Y3, Y8 Y9, Y10 Y11.

// K4SETUP(d, s, c, m): vector v's share of the super-block header, its
// scales at d and block sums at s: c(SP) = (d·dx)·sc, m(SP) += cvt(sum) ·
// ((dmin·dx)·m). Clobbers Y4, Y12, Y13.
#define K4SETUP(dv, sv, c, m) \
	VMOVUPS     dv, Y12 \
	VMULPS      32(SP), Y12, Y13 \
	VMULPS      96(SP), Y13, Y13 \
	VMOVUPS     Y13, c(SP) \
	VMULPS      64(SP), Y12, Y13 \
	VMULPS      128(SP), Y13, Y13 \
	VCVTDQ2PS   sv, Y12 \
	VMOVUPS     m(SP), Y4 \
	VFMADD231PS Y12, Y13, Y4 \
	VMOVUPS     Y4, m(SP)

// K4PAIR(x, c, clo, chi, acce, acco): vector v's sub-block pair of a chunk
// (nibbles in Y6 and Y7) against its activation bytes at x and x+32.
#define K4PAIR(xlo, xhi, c, clo, chi, acce, acco) \
	I8DOT(xlo, Y6, Y4) \
	I8DOT(xhi, Y7, Y12) \
	VCVTDQ2PS    Y4, Y4 \
	VCVTDQ2PS    Y12, Y12 \
	VBROADCASTSS c+clo(SP), Y5 \
	VBROADCASTSS c+chi(SP), Y13 \
	VFMADD231PS  Y4, Y5, acce \
	VFMADD231PS  Y12, Y13, acco

// K4CHUNK(qoff, xoff, clo, chi): one 64-element chunk for the four vectors.
#define K4CHUNK(qoff, xoff, clo, chi) \
	VMOVDQU qoff(SI), Y6 \
	VPSRLW  $4, Y6, Y7 \
	VPAND   Y14, Y6, Y6 \
	VPAND   Y14, Y7, Y7 \
	K4PAIR(xoff(DI), xoff+32(DI), 160, clo, chi, Y0, Y1) \
	K4PAIR(xoff(DI)(R9*1), xoff+32(DI)(R9*1), 192, clo, chi, Y2, Y3) \
	K4PAIR(xoff(DI)(R9*2), xoff+32(DI)(R9*2), 224, clo, chi, Y8, Y9) \
	K4PAIR(xoff(DI)(R10*1), xoff+32(DI)(R10*1), 256, clo, chi, Y10, Y11)

// func dotQ4Kx4Rows(row *byte, rowBytes, nrows int, d *float32, qs *int8, sum *int32, nsb, qstride, dstride int, dst *float32, dstStride int)
TEXT NAME_Q4KX4ROWS, NOSPLIT, $416-88
	MOVQ row+0(FP), AX
	MOVQ AX, 0(SP)
	MOVQ dst+72(FP), AX
	MOVQ AX, 8(SP)
	MOVQ nrows+16(FP), AX
	MOVQ AX, 16(SP)
	MOVQ qstride+56(FP), R9
	LEAQ (R9)(R9*2), R10
	MOVQ dstride+64(FP), R12
	LEAQ (R12)(R12*2), R13
	I8SETUP
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

k4row:
	CMPQ    16(SP), $0
	JLE     k4done
	MOVQ    0(SP), SI
	MOVQ    d+24(FP), DX
	MOVQ    qs+32(FP), DI
	MOVQ    sum+40(FP), BX
	MOVQ    nsb+48(FP), CX
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	VXORPS  Y8, Y8, Y8
	VXORPS  Y9, Y9, Y9
	VXORPS  Y10, Y10, Y10
	VXORPS  Y11, Y11, Y11
	VMOVUPS Y0, 288(SP)
	VMOVUPS Y0, 320(SP)
	VMOVUPS Y0, 352(SP)
	VMOVUPS Y0, 384(SP)

k4loop:
	TESTQ        CX, CX
	JZ           k4sum
	// Eight super-blocks ahead: with few vectors the row streams from
	// memory, faster than the hardware prefetcher fetches it.
	PREFETCHT0   1152(SI)
	PREFETCHT0   1216(SI)
	PREFETCHT0   1280(SI)
	// The header, as KSETUP: d and dmin broadcast, then the 6-bit
	// scales (sc 0-3, sc 4-7) and mins (m 0-3, m 4-7) as floats.
	MOVWLZX      (SI), AX
	VMOVD        AX, X12
	VCVTPH2PS    X12, X12
	VBROADCASTSS X12, Y12
	VMOVUPS      Y12, 32(SP)
	MOVWLZX      2(SI), AX
	VMOVD        AX, X12
	VCVTPH2PS    X12, X12
	VBROADCASTSS X12, Y12
	VMOVUPS      Y12, 64(SP)
	MOVL         4(SI), R8
	MOVL         R8, R11
	ANDL         $0x3f3f3f3f, R11
	MOVL         12(SI), AX
	ANDL         $0x0f0f0f0f, AX
	SHRL         $6, R8
	ANDL         $0x03030303, R8
	SHLL         $4, R8
	ORL          R8, AX
	VMOVD        R11, X12
	VPINSRD      $1, AX, X12, X12
	VPMOVZXBD    X12, Y12
	VCVTDQ2PS    Y12, Y12
	VMOVUPS      Y12, 96(SP)
	MOVL         8(SI), R8
	MOVL         R8, R11
	ANDL         $0x3f3f3f3f, R11
	MOVL         12(SI), AX
	SHRL         $4, AX
	ANDL         $0x0f0f0f0f, AX
	SHRL         $6, R8
	ANDL         $0x03030303, R8
	SHLL         $4, R8
	ORL          R8, AX
	VMOVD        R11, X12
	VPINSRD      $1, AX, X12, X12
	VPMOVZXBD    X12, Y12
	VCVTDQ2PS    Y12, Y12
	VMOVUPS      Y12, 128(SP)
	K4SETUP((DX), (BX), 160, 288)
	K4SETUP((DX)(R12*1), (BX)(R12*1), 192, 320)
	K4SETUP((DX)(R12*2), (BX)(R12*2), 224, 352)
	K4SETUP((DX)(R13*1), (BX)(R13*1), 256, 384)
	K4CHUNK(16, 0, 0, 4)
	K4CHUNK(48, 64, 8, 12)
	K4CHUNK(80, 128, 16, 20)
	K4CHUNK(112, 192, 24, 28)
	ADDQ         $144, SI
	ADDQ         $256, DI
	ADDQ         $32, DX
	ADDQ         $32, BX
	DECQ         CX
	JMP          k4loop

k4sum:
	// KRETURN for each vector, then dotQ80x4Rows' shared HSUM.
	VADDPS       Y1, Y0, Y0
	VSUBPS       288(SP), Y0, Y0
	VADDPS       Y3, Y2, Y2
	VSUBPS       320(SP), Y2, Y2
	VADDPS       Y9, Y8, Y8
	VSUBPS       352(SP), Y8, Y8
	VADDPS       Y11, Y10, Y10
	VSUBPS       384(SP), Y10, Y10
	VEXTRACTF128 $1, Y0, X7
	VADDPS       X7, X0, X0
	VEXTRACTF128 $1, Y2, X7
	VADDPS       X7, X2, X2
	VEXTRACTF128 $1, Y8, X7
	VADDPS       X7, X8, X8
	VEXTRACTF128 $1, Y10, X7
	VADDPS       X7, X10, X10
	VHADDPS      X2, X0, X0
	VHADDPS      X10, X8, X8
	VHADDPS      X8, X0, X0
	MOVQ         8(SP), AX
	MOVQ         dstStride+80(FP), R8
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
	JMP          k4row

k4done:
	VZEROUPPER
	RET
