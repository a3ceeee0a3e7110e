// The Q4_K product of weight rows with four activation vectors at once,
// included by intdot4_avx2_amd64.s and intdot4_vnni_amd64.s (which define
// I8SETUP, I8DOT and NAME_Q4KX4ROWS, and X4VNNI in the VNNI build). Each
// super-block's scales and mins are unpacked and its nibbles split once
// for the four vectors. The VNNI build's tile is two rows by four
// vectors: sixteen accumulators (even and odd sub-blocks), which only
// AVX-512VL's Y16-Y31 leave room for, and each vector's activation bytes
// loaded once for both rows; AVX2's 16 registers keep a one-row tile. Per
// row and vector the arithmetic is dotQ4K's (intdot_amd64.h: KSETUP,
// KPAIR, KRETURN) in the same order, so the results are its bits.
//
// Frame: 0 current row, 8 current output, 16 rows left; per row (h = 32
// for the first, 416 for the VNNI tile's second): h d, h+32 dmin, h+64
// scales, h+96 mins (8 floats each, broadcast or per sub-block); h+128 +
// 32v vector v's coefficients d·dx·sc; h+256 + 32v its mins term.
//
// Vector v's quants are at DI + v·qstride (R9 = qstride, R10 = 3·qstride),
// its scales and block sums at DX and BX + v·dstride (R12, R13 = 3·dstride).
// Accumulators (even, odd sub-blocks) of the (first) row: Y0 Y1, Y2 Y3,
// Y8 Y9, Y10 Y11; of the VNNI tile's second row: Y16 Y17, Y18 Y19, Y20
// Y21, Y22 Y23.

// K4SCALES(p, off, sh, dst): eight 6-bit values as KSETUP unpacks them
// from the header at p: the low six bits of the bytes at off(p), then the
// nibbles of 12(p) shifted right by sh with those bytes' top two bits
// above, as floats to dst. Clobbers AX, R8, R11, Y12.
#define K4SCALES(p, off, sh, dst) \
	MOVL         off(p), R8 \
	MOVL         R8, R11 \
	ANDL         $0x3f3f3f3f, R11 \
	MOVL         12(p), AX \
	SHRL         sh, AX \
	ANDL         $0x0f0f0f0f, AX \
	SHRL         $6, R8 \
	ANDL         $0x03030303, R8 \
	SHLL         $4, R8 \
	ORL          R8, AX \
	VMOVD        R11, X12 \
	VPINSRD      $1, AX, X12, X12 \
	VPMOVZXBD    X12, Y12 \
	VCVTDQ2PS    Y12, Y12 \
	VMOVUPS      Y12, dst

// K4HALF(p, dst): the fp16 at p, broadcast as a float to dst. Clobbers AX, Y12.
#define K4HALF(p, dst) \
	MOVWLZX      p, AX \
	VMOVD        AX, X12 \
	VCVTPH2PS    X12, X12 \
	VBROADCASTSS X12, Y12 \
	VMOVUPS      Y12, dst

// K4HEAD(p, h): the header of the super-block at p, as KSETUP: d and
// dmin broadcast, then the scales (sc 0-3, sc 4-7) and mins (m 0-3, m 4-7).
#define K4HEAD(p, h) \
	K4HALF((p), h(SP)) \
	K4HALF(2(p), h+32(SP)) \
	K4SCALES(p, 4, $0, h+64(SP)) \
	K4SCALES(p, 8, $4, h+96(SP))

// K4SETUP(dv, sv, h, v): vector v's share (v = 0, 32, 64, 96) of the
// header of the row whose frame starts at h, the vector's scales at dv and
// block sums at sv: its coefficients (d·dx)·sc, and its mins term +=
// cvt(sum) · ((dmin·dx)·m). Clobbers Y4, Y12, Y13.
#define K4SETUP(dv, sv, h, v) \
	VMOVUPS     dv, Y12 \
	VMULPS      h(SP), Y12, Y13 \
	VMULPS      h+64(SP), Y13, Y13 \
	VMOVUPS     Y13, h+128+v(SP) \
	VMULPS      h+32(SP), Y12, Y13 \
	VMULPS      h+96(SP), Y13, Y13 \
	VCVTDQ2PS   sv, Y12 \
	VMOVUPS     h+256+v(SP), Y4 \
	VFMADD231PS Y12, Y13, Y4 \
	VMOVUPS     Y4, h+256+v(SP)

// K4SETUPS(h): the four vectors' shares of the row at h.
#define K4SETUPS(h) \
	K4SETUP((DX), (BX), h, 0) \
	K4SETUP((DX)(R12*1), (BX)(R12*1), h, 32) \
	K4SETUP((DX)(R12*2), (BX)(R12*2), h, 64) \
	K4SETUP((DX)(R13*1), (BX)(R13*1), h, 96)

// K4SUM(m): KRETURN for each vector of the row whose accumulators are in
// Y0-Y3, Y8-Y11 and mins terms at m, then dotQ80x4Rows' shared HSUM,
// leaving the four results in X0. Clobbers Y15.
#define K4SUM(m) \
	VADDPS       Y1, Y0, Y0 \
	VSUBPS       m(SP), Y0, Y0 \
	VADDPS       Y3, Y2, Y2 \
	VSUBPS       m+32(SP), Y2, Y2 \
	VADDPS       Y9, Y8, Y8 \
	VSUBPS       m+64(SP), Y8, Y8 \
	VADDPS       Y11, Y10, Y10 \
	VSUBPS       m+96(SP), Y10, Y10 \
	X4HSUM(Y0, Y2, Y8, Y10, X0, X2, X8, X10)

// K4STORE(p): X0's four lanes to (p), (p)+R8, (p)+2·R8, (p)+3·R8.
#define K4STORE(p) \
	VMOVSS     X0, (p) \
	VEXTRACTPS $1, X0, (p)(R8*1) \
	LEAQ       (p)(R8*2), R11 \
	VEXTRACTPS $2, X0, (R11) \
	VEXTRACTPS $3, X0, (R11)(R8*1)

// K4NEXT: the row (SI) and the vectors past a super-block.
#define K4NEXT \
	ADDQ $144, SI \
	ADDQ $256, DI \
	ADDQ $32, DX \
	ADDQ $32, BX \
	DECQ CX

// K4ENTRY: the frame's row, output and count, and the vectors' strides.
#define K4ENTRY \
	X4FRAME(dst+72(FP), qstride+56(FP)) \
	MOVQ         dstride+64(FP), R12 \
	LEAQ         (R12)(R12*2), R13 \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X14 \
	VPBROADCASTD X14, Y14

// K4ZEROM(m): the mins terms at m zeroed (Y0 is zero).
#define K4ZEROM(m) \
	VMOVUPS Y0, m(SP) \
	VMOVUPS Y0, m+32(SP) \
	VMOVUPS Y0, m+64(SP) \
	VMOVUPS Y0, m+96(SP)

// K4PREFETCH(p): eight super-blocks ahead of p.
#define K4PREFETCH(p) \
	PREFETCHT0 1152(p) \
	PREFETCHT0 1216(p) \
	PREFETCHT0 1280(p)

// K4ROW: a row's (pair's) arguments, and the first row's accumulators and
// mins terms zeroed.
#define K4ROW \
	MOVQ    d+24(FP), DX \
	MOVQ    qs+32(FP), DI \
	MOVQ    sum+40(FP), BX \
	MOVQ    nsb+48(FP), CX \
	VXORPS  Y0, Y0, Y0 \
	VXORPS  Y1, Y1, Y1 \
	VXORPS  Y2, Y2, Y2 \
	VXORPS  Y3, Y3, Y3 \
	VXORPS  Y8, Y8, Y8 \
	VXORPS  Y9, Y9, Y9 \
	VXORPS  Y10, Y10, Y10 \
	VXORPS  Y11, Y11, Y11 \
	K4ZEROM(288)

// K4NIB(mov, and, q, lo, hi): a chunk's 32 bytes of nibbles at q split,
// low nibbles to lo and high to hi (Y14 holds 0x0f bytes); mov and and
// are the VEX or, for Y16-Y31, the EVEX instructions.
#define K4NIB(mov, and, q, lo, hi) \
	mov    q, lo \
	VPSRLW $4, lo, hi \
	and    Y14, lo, lo \
	and    Y14, hi, hi

// K4FMA(c, clo, chi, lo, hi, slo, shi, acce, acco): a sub-block pair's
// integer dots lo and hi as floats, times the coefficients at c+clo and
// c+chi (broadcast through slo and shi), added into acce and acco.
#define K4FMA(c, clo, chi, lo, hi, slo, shi, acce, acco) \
	VCVTDQ2PS    lo, lo \
	VCVTDQ2PS    hi, hi \
	VBROADCASTSS c+clo(SP), slo \
	VBROADCASTSS c+chi(SP), shi \
	VFMADD231PS  lo, slo, acce \
	VFMADD231PS  hi, shi, acco

#ifndef X4VNNI
// K4PAIR(x, c, clo, chi, acce, acco): vector v's sub-block pair of a chunk
// (nibbles in Y6 and Y7) against its activation bytes at x and x+32.
#define K4PAIR(xlo, xhi, c, clo, chi, acce, acco) \
	I8DOT(xlo, Y6, Y4) \
	I8DOT(xhi, Y7, Y12) \
	K4FMA(c, clo, chi, Y4, Y12, Y5, Y13, acce, acco)

// K4CHUNK(qoff, xoff, clo, chi): one 64-element chunk for the four vectors.
#define K4CHUNK(qoff, xoff, clo, chi) \
	K4NIB(VMOVDQU, VPAND, qoff(SI), Y6, Y7) \
	K4PAIR(xoff(DI), xoff+32(DI), 160, clo, chi, Y0, Y1) \
	K4PAIR(xoff(DI)(R9*1), xoff+32(DI)(R9*1), 192, clo, chi, Y2, Y3) \
	K4PAIR(xoff(DI)(R9*2), xoff+32(DI)(R9*2), 224, clo, chi, Y8, Y9) \
	K4PAIR(xoff(DI)(R10*1), xoff+32(DI)(R10*1), 256, clo, chi, Y10, Y11)

// func dotQ4Kx4Rows(row *byte, rowBytes, nrows int, d *float32, qs *int8, sum *int32, nsb, qstride, dstride int, dst *float32, dstStride int)
TEXT NAME_Q4KX4ROWS, NOSPLIT, $416-88
	K4ENTRY

k4row:
	CMPQ 16(SP), $0
	JLE  k4done
	// K4SUM takes Y15, I8SETUP's constant.
	I8SETUP
	MOVQ 0(SP), SI
	K4ROW

k4loop:
	TESTQ      CX, CX
	JZ         k4sum
	// Eight super-blocks ahead: with few vectors the row streams from
	// memory, faster than the hardware prefetcher fetches it.
	K4PREFETCH(SI)
	K4HEAD(SI, 32)
	K4SETUPS(32)
	K4CHUNK(16, 0, 0, 4)
	K4CHUNK(48, 64, 8, 12)
	K4CHUNK(80, 128, 16, 20)
	K4CHUNK(112, 192, 24, 28)
	K4NEXT
	JMP        k4loop

k4sum:
	K4SUM(288)
	MOVQ 8(SP), AX
	MOVQ dstStride+80(FP), R8
	SHLQ $2, R8
	K4STORE(AX)
	ADDQ $4, AX
	MOVQ AX, 8(SP)
	MOVQ rowBytes+8(FP), AX
	ADDQ AX, 0(SP)
	DECQ 16(SP)
	JMP  k4row

k4done:
	VZEROUPPER
	RET

#else
// K2PAIR(xlo, xhi, v, clo, chi, a0e, a0o, a1e, a1o): vector v's sub-block
// pair of a chunk (first row's nibbles in Y6 and Y7, second's in Y24 and
// Y25) against its activation bytes at xlo and xhi, as K4PAIR per row.
#define K2PAIR(xlo, xhi, v, clo, chi, a0e, a0o, a1e, a1o) \
	VMOVDQU32 xlo, Y26 \
	VMOVDQU32 xhi, Y27 \
	VPXORD    Y4, Y4, Y4 \
	VPDPBUSD  Y26, Y6, Y4 \
	VPXORD    Y12, Y12, Y12 \
	VPDPBUSD  Y27, Y7, Y12 \
	VPXORD    Y28, Y28, Y28 \
	VPDPBUSD  Y26, Y24, Y28 \
	VPXORD    Y29, Y29, Y29 \
	VPDPBUSD  Y27, Y25, Y29 \
	K4FMA(160+v, clo, chi, Y4, Y12, Y5, Y13, a0e, a0o) \
	K4FMA(544+v, clo, chi, Y28, Y29, Y30, Y31, a1e, a1o)

// K2CHUNK(qoff, xoff, clo, chi): one 64-element chunk, both rows, the four vectors.
#define K2CHUNK(qoff, xoff, clo, chi) \
	K4NIB(VMOVDQU32, VPANDD, qoff(SI), Y6, Y7) \
	K4NIB(VMOVDQU32, VPANDD, qoff(R14), Y24, Y25) \
	K2PAIR(xoff(DI), xoff+32(DI), 0, clo, chi, Y0, Y1, Y16, Y17) \
	K2PAIR(xoff(DI)(R9*1), xoff+32(DI)(R9*1), 32, clo, chi, Y2, Y3, Y18, Y19) \
	K2PAIR(xoff(DI)(R9*2), xoff+32(DI)(R9*2), 64, clo, chi, Y8, Y9, Y20, Y21) \
	K2PAIR(xoff(DI)(R10*1), xoff+32(DI)(R10*1), 96, clo, chi, Y10, Y11, Y22, Y23)

// func dotQ4Kx4Rows(row *byte, rowBytes, nrows int, d *float32, qs *int8, sum *int32, nsb, qstride, dstride int, dst *float32, dstStride int)
// The second row is at R14: SI's successor, or SI again for an odd last
// row, whose results are then written twice. Not NOSPLIT: the frame is
// over the nosplit limit.
TEXT NAME_Q4KX4ROWS, 0, $800-88
	K4ENTRY

k4row:
	CMPQ     16(SP), $0
	JLE      k4done
	X4ROWPAIR
	K4ROW
	VPXORD   Y16, Y16, Y16
	VPXORD   Y17, Y17, Y17
	VPXORD   Y18, Y18, Y18
	VPXORD   Y19, Y19, Y19
	VPXORD   Y20, Y20, Y20
	VPXORD   Y21, Y21, Y21
	VPXORD   Y22, Y22, Y22
	VPXORD   Y23, Y23, Y23
	K4ZEROM(672)

k4loop:
	TESTQ        CX, CX
	JZ           k4sum
	// Eight super-blocks ahead, as the one-row tile, for both rows.
	K4PREFETCH(SI)
	K4PREFETCH(R14)
	K4HEAD(SI, 32)
	K4HEAD(R14, 416)
	K4SETUPS(32)
	K4SETUPS(416)
	K2CHUNK(16, 0, 0, 4)
	K2CHUNK(48, 64, 8, 12)
	K2CHUNK(80, 128, 16, 20)
	K2CHUNK(112, 192, 24, 28)
	ADDQ         $144, R14
	K4NEXT
	JMP          k4loop

k4sum:
	MOVQ      dstStride+80(FP), R8
	SHLQ      $2, R8
	K4SUM(288)
	MOVQ      8(SP), AX
	K4STORE(AX)
	VMOVAPS   Y16, Y0
	VMOVAPS   Y17, Y1
	VMOVAPS   Y18, Y2
	VMOVAPS   Y19, Y3
	VMOVAPS   Y20, Y8
	VMOVAPS   Y21, Y9
	VMOVAPS   Y22, Y10
	VMOVAPS   Y23, Y11
	K4SUM(672)
	CMPQ      16(SP), $1
	JE        k4last
	ADDQ      $4, AX

k4last:
	K4STORE(AX)
	X4PAIRNEXT
	JMP       k4row

k4done:
	VZEROUPPER
	RET
#endif
