// The Q4_K and Q5_K products against activations in super-blocks of 256
// (kvec in dot.go), as intq6k_amd64.h does Q6_K's, whose K6MADD and K6ONE
// they use (included after it): Q4_K one row, four vectors and eight
// vectors at once; Q5_K one row (its tiles are the dot products).
//
// Per super-block and vector the integer Σ_j sc_j·Σ q_j·x_j over the eight
// sub-blocks of 32: each sub-block's 4- or 5-bit values q (unsigned) by
// VPMADDUBSW with the activation bytes (pair sums at most 2·31·127), then
// its 6-bit scale as int16 by K6MADD into eight int32 lanes; and the mins'
// Σ_j m_j·Σx_j from the activations' sums of 16, VPMADDWD of those by the
// mins as int16, each twice (lane i: sub-block i's two sixteens). The float
// steps, a super-block at a time: lanes += float(Σ) × d·dx by one FMA,
// then lanes −= float(mins) × dmin·dx by one more; at the end of a row the
// lanes summed as HSUM does. The integer lanes are exact and the float
// steps the same in every kernel and build, so the tiles give the one-row
// kernel's bits and the builds each other's.

// The 6-bit scales and mins of the super-block header at 4(SI), 12 bytes:
// dwords D0 (sc0-3 and the top bits of sc4-7), D1 (m0-3, top bits of
// m4-7), D2 (the low nibbles of sc4-7 and of m4-7).
DATA k4m3f<>+0(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA k4m3f<>+8(SB)/8, $0x3f3f3f3f3f3f3f3f
GLOBL k4m3f<>(SB), RODATA|NOPTR, $16
DATA k4m03<>+0(SB)/8, $0x0303030303030303
DATA k4m03<>+8(SB)/8, $0x0303030303030303
GLOBL k4m03<>(SB), RODATA|NOPTR, $16
DATA k4m0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA k4m0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL k4m0f<>(SB), RODATA|NOPTR, $16
DATA k4sh04<>+0(SB)/8, $0x0000000400000000
DATA k4sh04<>+8(SB)/8, $0
GLOBL k4sh04<>(SB), RODATA|NOPTR, $16

// k4shuf+16j: sixteen copies of byte j (scale j of X15); k4shuf+128: bytes
// 8, 8, 9, 9, … 15, 15 (each min twice, one per sixteen).
#define K4SHUF(o, v) \
	DATA k4shuf<>+o(SB)/8, $v \
	DATA k4shuf<>+o+8(SB)/8, $v
K4SHUF(0, 0x0000000000000000)
K4SHUF(16, 0x0101010101010101)
K4SHUF(32, 0x0202020202020202)
K4SHUF(48, 0x0303030303030303)
K4SHUF(64, 0x0404040404040404)
K4SHUF(80, 0x0505050505050505)
K4SHUF(96, 0x0606060606060606)
K4SHUF(112, 0x0707070707070707)
DATA k4shuf<>+128(SB)/8, $0x0b0b0a0a09090808
DATA k4shuf<>+136(SB)/8, $0x0f0f0e0e0d0d0c0c
GLOBL k4shuf<>(SB), RODATA|NOPTR, $144

// K4UNPACK: the eight scales and eight mins as bytes in X15 (sc0 … sc7,
// m0 … m7); clobbers X4, X6, X7.
#define K4UNPACK \
	VMOVQ      4(SI), X15 \
	VPINSRD    $2, 12(SI), X15, X15 \
	VPAND      k4m3f<>(SB), X15, X4 \
	VPSRLD     $6, X15, X6 \
	VPAND      k4m03<>(SB), X6, X6 \
	VPSLLD     $4, X6, X6 \
	VPSHUFD    $0xaa, X15, X7 \
	VPSRLVD    k4sh04<>(SB), X7, X7 \
	VPAND      k4m0f<>(SB), X7, X7 \
	VPOR       X6, X7, X7 \
	VPUNPCKLDQ X7, X4, X15

// K4SC(off, s): scale off/16 as sixteen int16 in s (from X15).
#define K4SC(off, s) \
	VPSHUFB   k4shuf<>+off(SB), X15, X4 \
	VPMOVZXBW X4, s

// K4MINS(s): the mins as int16, each twice, in s.
#define K4MINS(s) K4SC(128, s)

// K4CHUNK(qoff, xoff, j0, j1): the 64 weights of 32 bytes at qoff(SI):
// low nibbles (sub-block j0/16) against activations xoff, high ones
// (j1/16) against xoff+32, each taken by K4GROUP (q in Y5, its scale
// pattern's offset, the one-row kernels' integer lanes for it: Y1 for the
// low nibbles, Y3 for the high, two chains of additions for the CPU to
// overlap), which each kernel defines. Y14 holds bytes of 0x0f;
// clobbers Y7.
#define K4CHUNK(qoff, xoff, j0, j1) \
	VMOVDQU qoff(SI), Y7 \
	VPAND   Y14, Y7, Y5 \
	K4GROUP(xoff, j0, Y1) \
	VPSRLW  $4, Y7, Y5 \
	VPAND   Y14, Y5, Y5 \
	K4GROUP(xoff+32, j1, Y3)

#define K4SB \
	K4CHUNK(16, 0, 0, 16) \
	K4CHUNK(48, 64, 32, 48) \
	K4CHUNK(80, 128, 64, 80) \
	K4CHUNK(112, 192, 96, 112)

// K4DM(yd, xd, ym, xm): the super-block's d and dmin (f16 at 0(SI) and
// 2(SI)) in every lane of yd and ym; clobbers AX.
#define K4DM(yd, xd, ym, xm) \
	MOVWLZX      (SI), AX \
	VMOVD        AX, xd \
	VCVTPH2PS    xd, xd \
	VBROADCASTSS xd, yd \
	MOVWLZX      2(SI), AX \
	VMOVD        AX, xm \
	VCVTPH2PS    xm, xm \
	VBROADCASTSS xm, ym

#define K4PREFETCH \
	PREFETCHT0 1152(SI) \
	PREFETCHT0 1216(SI) \
	PREFETCHT0 1280(SI)

// K1END(bsz): the one-row kernels' float steps for the super-block (its
// integer lanes in Y1, its header at SI, bsz the super-block's bytes).
#define K1END(bsz) \
	VPADDD       Y3, Y1, Y1 \
	K4DM(Y2, X2, Y3, X3) \
	VMULSS       (DX), X2, X2 \
	VBROADCASTSS X2, Y2 \
	VMULSS       (DX), X3, X3 \
	VBROADCASTSS X3, Y3 \
	VCVTDQ2PS    Y1, Y1 \
	VFMADD231PS  Y1, Y2, Y0 \
	K4MINS(Y4) \
	VPMADDWD     (BX), Y4, Y6 \
	VCVTDQ2PS    Y6, Y6 \
	VFNMADD231PS Y6, Y3, Y0 \
	ADDQ         bsz, SI \
	ADDQ         $256, DI \
	ADDQ         $32, BX \
	ADDQ         $4, DX \
	DECQ         CX

#define K1SETUP \
	MOVQ         row+0(FP), SI \
	MOVQ         d+8(FP), DX \
	MOVQ         qs+16(FP), DI \
	MOVQ         bs+24(FP), BX \
	MOVQ         nsb+32(FP), CX \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X14 \
	VPBROADCASTD X14, Y14 \
	VXORPS       Y0, Y0, Y0

#define K1RET \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VZEROUPPER \
	MOVSS        X0, ret+40(FP) \
	RET

// One row: integer lanes Y1 and Y3, added before the float steps (exact,
// so the same lanes as the tiles' one chain); float lanes Y0.
#define K4GROUP(xoff, j, acc) \
	K4SC(j, Y4) \
	K6ONE(xoff(DI), acc)

// func dotQ4K(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32
TEXT NAME_Q4K, NOSPLIT, $0-44
	K1SETUP
	TESTQ CX, CX
	JZ    q4k1done

q4k1loop:
	K4PREFETCH
	K4UNPACK
	VPXOR Y1, Y1, Y1
	VPXOR Y3, Y3, Y3
	K4SB
	K1END($144)
	JNZ   q4k1loop

q4k1done:
	K1RET

// Q5_K: the fifth bits from qh (32 bytes at 16(SI), held in Y8 and moved
// down two bits a chunk): bit 0 of each byte to bit 4 of the chunk's low
// nibbles, bit 1 to bit 4 of its high ones (Y12, Y13: bytes of 0x01 and
// 0x02); the nibbles at 48(SI).
#define K5CHUNK(qoff, xoff, j0, j1) \
	VMOVDQU qoff(SI), Y7 \
	VPAND   Y14, Y7, Y5 \
	VPAND   Y12, Y8, Y6 \
	VPSLLW  $4, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	K4GROUP(xoff, j0, Y1) \
	VPSRLW  $4, Y7, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPAND   Y13, Y8, Y6 \
	VPSLLW  $3, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	K4GROUP(xoff+32, j1, Y3) \
	VPSRLW  $2, Y8, Y8

// func dotQ5K(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32
TEXT NAME_Q5K, NOSPLIT, $0-44
	K1SETUP
	MOVL         $0x01010101, AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12
	MOVL         $0x02020202, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	TESTQ        CX, CX
	JZ           q5k1done

q5k1loop:
	K4UNPACK
	VPXOR   Y1, Y1, Y1
	VPXOR   Y3, Y3, Y3
	VMOVDQU 16(SI), Y8
	K5CHUNK(48, 0, 0, 16)
	K5CHUNK(80, 64, 32, 48)
	K5CHUNK(112, 128, 64, 80)
	K5CHUNK(144, 192, 96, 112)
	K1END($176)
	JNZ     q5k1loop

q5k1done:
	K1RET

#undef K4GROUP

// Four vectors: integer lanes Y10-Y13, float lanes Y0-Y3, registers and
// pointers as dotQ6Kx4Rows; the products d·dx in both halves of Y8,
// dmin·dx of Y9.
#define K4GROUP(xoff, j, acc) \
	K4SC(j, Y4) \
	K6ONE(xoff(DI), Y10) \
	K6ONE(xoff(DI)(R9*1), Y11) \
	K6ONE(xoff(DI)(R9*2), Y12) \
	K6ONE(xoff(DI)(R10*1), Y13)

// K4END4(acc, bs, sel, f): vector sel's float steps (the mins as int16
// in Y4).
#define K4END4(acc, bs, sel, f) \
	VCVTDQ2PS    acc, acc \
	VSHUFPS      sel, Y8, Y8, Y7 \
	VFMADD231PS  acc, Y7, f \
	VPMADDWD     bs, Y4, Y6 \
	VCVTDQ2PS    Y6, Y6 \
	VSHUFPS      sel, Y9, Y9, Y7 \
	VFNMADD231PS Y6, Y7, f

// func dotQ4Kx4Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)
TEXT NAME_Q4KX4ROWS, NOSPLIT, $32-80
	X4FRAME(dst+64(FP), qstride+56(FP))
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

q4k4row:
	CMPQ   16(SP), $0
	JLE    q4k4done
	KX4ROW

q4k4loop:
	TESTQ          CX, CX
	JZ             q4k4sum
	K4PREFETCH
	K4DM(Y8, X8, Y9, X9)
	VBROADCASTF128 (DX), Y7
	VMULPS         Y7, Y8, Y8
	VMULPS         Y7, Y9, Y9
	K4UNPACK
	VPXOR          Y10, Y10, Y10
	VPXOR          Y11, Y11, Y11
	VPXOR          Y12, Y12, Y12
	VPXOR          Y13, Y13, Y13
	K4SB
	K4MINS(Y4)
	K4END4(Y10, (BX), $0x00, Y0)
	K4END4(Y11, (BX)(R14*1), $0x55, Y1)
	K4END4(Y12, (BX)(R14*2), $0xaa, Y2)
	K4END4(Y13, (BX)(R13*1), $0xff, Y3)
	ADDQ           $144, SI
	ADDQ           $256, DI
	ADDQ           $32, BX
	ADDQ           $16, DX
	DECQ           CX
	JMP            q4k4loop

q4k4sum:
	KX4END(dstStride+72(FP))
	JMP  q4k4row

q4k4done:
	VZEROUPPER
	RET

#undef K4GROUP

// Eight vectors: registers and pointers as dotQ6Kx8Rows; frame: 32 + 4v
// vector v's d·dx, 64 + 4v its dmin·dx, its float lanes at 96 + 32v (AVX2
// build) or in Y16+v (VNNI build).
#define K4GROUP(xoff, j, acc) \
	K4SC(j, Y4) \
	K6ONE(xoff(DI), Y0) \
	K6ONE(xoff(DI)(R9*1), Y1) \
	K6ONE(xoff(DI)(R9*2), Y2) \
	K6ONE(xoff(DI)(R10*1), Y3) \
	K6ONE(xoff(R11), Y8) \
	K6ONE(xoff(R11)(R9*1), Y9) \
	K6ONE(xoff(R11)(R9*2), Y10) \
	K6ONE(xoff(R11)(R10*1), Y11)

#ifdef X4VNNI
// K4END8(acc, p, pm, fo, f): a vector's float steps (the mins as int16 in
// Y4, its sums of 16 at AX, moved on to the next vector's).
#define K4END8(acc, p, pm, fo, f) \
	VCVTDQ2PS         acc, acc \
	VFMADD231PS.BCST  p(SP), acc, f \
	VPMADDWD          (AX), Y4, Y6 \
	ADDQ              R14, AX \
	VCVTDQ2PS         Y6, Y6 \
	VFNMADD231PS.BCST pm(SP), Y6, f
#else
#define K4END8(acc, p, pm, fo, f) \
	VCVTDQ2PS    acc, acc \
	VBROADCASTSS p(SP), Y6 \
	VFMADD213PS  fo(SP), Y6, acc \
	VPMADDWD     (AX), Y4, Y7 \
	ADDQ         R14, AX \
	VCVTDQ2PS    Y7, Y7 \
	VBROADCASTSS pm(SP), Y6 \
	VFNMADD231PS Y7, Y6, acc \
	VMOVUPS      acc, fo(SP)
#endif

// func dotQ4Kx8Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)
TEXT NAME_Q4KX8ROWS, NOSPLIT, $352-80
	KX8ENTRY

q4k8row:
	CMPQ 16(SP), $0
	JLE  q4k8done
	KX8ROW

q4k8loop:
	TESTQ       CX, CX
	JZ          q4k8sum
	K4PREFETCH
	K4DM(Y7, X7, Y5, X5)
	VMOVUPS     (DX), X6
	VINSERTF128 $1, (DX)(R12*1), Y6, Y6
	VMULPS      Y6, Y7, Y7
	VMOVUPS     Y7, 32(SP)
	VMULPS      Y6, Y5, Y5
	VMOVUPS     Y5, 64(SP)
	K4UNPACK
	VPXOR       Y0, Y0, Y0
	VPXOR       Y1, Y1, Y1
	VPXOR       Y2, Y2, Y2
	VPXOR       Y3, Y3, Y3
	VPXOR       Y8, Y8, Y8
	VPXOR       Y9, Y9, Y9
	VPXOR       Y10, Y10, Y10
	VPXOR       Y11, Y11, Y11
	K4SB
	K4MINS(Y4)
	MOVQ        BX, AX
	K4END8(Y0, 32, 64, 96, Y16)
	K4END8(Y1, 36, 68, 128, Y17)
	K4END8(Y2, 40, 72, 160, Y18)
	K4END8(Y3, 44, 76, 192, Y19)
	K4END8(Y8, 48, 80, 224, Y20)
	K4END8(Y9, 52, 84, 256, Y21)
	K4END8(Y10, 56, 88, 288, Y22)
	K4END8(Y11, 60, 92, 320, Y23)
	ADDQ        $144, SI
	ADDQ        $256, DI
	ADDQ        $256, R11
	ADDQ        $32, BX
	ADDQ        $16, DX
	DECQ        CX
	JMP         q4k8loop

q4k8sum:
	K6LOAD8
	X8END(dstStride+72(FP), Y8, Y9, Y10, Y11, X8, X9, X10, X11)
	JMP q4k8row

q4k8done:
	VZEROUPPER
	RET

#undef K4GROUP
