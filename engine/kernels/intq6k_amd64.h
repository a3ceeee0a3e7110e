// The Q6_K products against activations in super-blocks of 256 (kvec in
// dot.go: one float scale per 256 values, int16 sums per 16): one row,
// four vectors and eight vectors at once. Included by intdot4_avx2_amd64.s
// and intdot4_vnni_amd64.s, after intdot4_types_amd64.h and
// intdot4_amd64.h, whose X4SPLAT, X4FRAME, X4HSUM, Q8STORE and X8END it
// uses; the two builds differ only in K6MADD and, for eight vectors, in
// where the float accumulators live.
//
// Per super-block and vector the sum Σ_j sc_j·Σ(q_j-32)·x_j over the
// sixteen sub-blocks stays in integers: each group of 32 weights (two
// sub-blocks) by VPMADDUBSW of the 6-bit values q (unsigned, 0..63) with
// the activation bytes (pair sums at most 2·63·127, no saturation), then
// the pair sums times the two sub-block scales as int16 added into eight
// int32 lanes (K6MADD: VPMADDWD and VPADDD; with VNNI one VPDPWSSD); the
// -32 comes in once a super-block, as the lanes' starting value
// VPMADDWD(bs, -32·sc), the activations' sums of 16 times the scales.
// Lane i then holds elements 4i … 4i+3 of every group, less the offsets
// of sub-blocks 2i and 2i+1: the same exact integers in every kernel and
// build. The float steps, a super-block at a time: the lanes converted,
// times the scale product d·dx (one float multiply), added by one FMA
// per lane; at the end of a row the lanes summed as HSUM does. Every
// kernel does these in this order, so the tiles give the one-row kernel's
// bits for every row and vector, and the builds each other's.
//
// Go assembler operand order is reversed from Intel's: VPMADDUBSW x, q, p
// sets p to the pair sums of unsigned q by signed x.

X4SPLAT(k6qh03<>, $0x0303030303030303)
X4SPLAT(k6qh0c<>, $0x0c0c0c0c0c0c0c0c)
X4SPLAT(k6qh30<>, $0x3030303030303030)
X4SPLAT(k6qhc0<>, $0xc0c0c0c0c0c0c0c0)

// k6shuf+16g: VPSHUFB's pattern for group g (0-7) of a super-block: eight
// copies of scale byte 2g, then eight of 2g+1, which VPMOVSXBW makes the
// int16 scales of the group's two sub-blocks, one per 128-bit half.
#define K6SHUF(o, lo, hi) \
	DATA k6shuf<>+o(SB)/8, $lo \
	DATA k6shuf<>+o+8(SB)/8, $hi
K6SHUF(0, 0x0000000000000000, 0x0101010101010101)
K6SHUF(16, 0x0202020202020202, 0x0303030303030303)
K6SHUF(32, 0x0404040404040404, 0x0505050505050505)
K6SHUF(48, 0x0606060606060606, 0x0707070707070707)
K6SHUF(64, 0x0808080808080808, 0x0909090909090909)
K6SHUF(80, 0x0a0a0a0a0a0a0a0a, 0x0b0b0b0b0b0b0b0b)
K6SHUF(96, 0x0c0c0c0c0c0c0c0c, 0x0d0d0d0d0d0d0d0d)
K6SHUF(112, 0x0e0e0e0e0e0e0e0e, 0x0f0f0f0f0f0f0f0f)
GLOBL k6shuf<>(SB), RODATA|NOPTR, $128

#ifdef X4VNNI
// K6MADD(p, s, acc): acc += the int16 pair sums p times the scales s, in
// int32 lanes.
#define K6MADD(p, s, acc) VPDPWSSD s, p, acc
#else
#define K6MADD(p, s, acc) \
	VPMADDWD s, p, p \
	VPADDD   p, acc, acc
#endif

// K6NSC(s, z): the super-block's sixteen scales (at 192(SI)) as bytes in
// X15, and as int16 times -32 in s (|32·sc| ≤ 4096); clobbers z.
#define K6NSC(s, z) \
	VMOVDQU   192(SI), X15 \
	VPMOVSXBW X15, s \
	VPSLLW    $5, s, s \
	VPXOR     z, z, z \
	VPSUBW    s, z, s

// K6SC(shuf, s): group shuf/16's two sub-block scales as int16 in s.
#define K6SC(shuf, s) \
	VPSHUFB   k6shuf<>+shuf(SB), X15, X4 \
	VPMOVSXBW X4, s

// K6HALF(qloff, qhoff, xoff, shuf): the four groups of one 128-element
// half (ql at qloff(SI), 64 bytes; qh at qhoff(SI), 32 bytes), each
// decoded into Y5 (group k: the low nibbles of ql[32(k&1):] for k < 2,
// else the high ones, and bits 2k, 2k+1 of qh as bits 4, 5; Y14 holds
// bytes of 0x0f; clobbers Y6), then taken by K6GROUP(xoff, shuf), which
// each kernel defines: its activations at xoff, its scale pattern at
// k6shuf+shuf.
#define K6HALF(qloff, qhoff, xoff, shuf) \
	VPAND   qloff(SI), Y14, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   k6qh03<>(SB), Y6, Y6 \
	VPSLLW  $4, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	K6GROUP(xoff, shuf) \
	VPAND   qloff+32(SI), Y14, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   k6qh0c<>(SB), Y6, Y6 \
	VPSLLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	K6GROUP(xoff+32, shuf+16) \
	VMOVDQU qloff(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   k6qh30<>(SB), Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	K6GROUP(xoff+64, shuf+32) \
	VMOVDQU qloff+32(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   k6qhc0<>(SB), Y6, Y6 \
	VPSRLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	K6GROUP(xoff+96, shuf+48)

// K6SB: both halves of the super-block at SI, activations at DI.
#define K6SB \
	K6HALF(0, 128, 0, 0) \
	K6HALF(64, 160, 128, 64)

// K6D(y): the super-block's d (f16 at 208(SI)) in every lane of y, the
// f32 in its lowest; clobbers AX. (An 8-byte VCVTPH2PS would read past
// the row.)
#define K6D(y, x) \
	MOVWLZX      208(SI), AX \
	VMOVD        AX, x \
	VCVTPH2PS    x, x \
	VBROADCASTSS x, y

#define K6PREFETCH \
	PREFETCHT0 1260(SI) \
	PREFETCHT0 1324(SI) \
	PREFETCHT0 1388(SI) \
	PREFETCHT0 1452(SI)

// One row: integer lanes Y1, float lanes Y0.
#define K6GROUP(xoff, shuf) \
	K6SC(shuf, Y9) \
	VPMADDUBSW xoff(DI), Y5, Y6 \
	K6MADD(Y6, Y9, Y1)

// func dotQ6K(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32
TEXT NAME_Q6K, NOSPLIT, $0-44
	MOVQ         row+0(FP), SI
	MOVQ         d+8(FP), DX
	MOVQ         qs+16(FP), DI
	MOVQ         bs+24(FP), BX
	MOVQ         nsb+32(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VXORPS       Y0, Y0, Y0
	TESTQ        CX, CX
	JZ           k6done

k6loop:
	K6PREFETCH // 6 super-blocks ahead, as dotQ4K
	K6NSC(Y9, Y8)
	VPMADDWD     (BX), Y9, Y1
	K6SB
	K6D(Y2, X2)
	VMULSS       (DX), X2, X2
	VBROADCASTSS X2, Y2
	VCVTDQ2PS    Y1, Y1
	VFMADD231PS  Y1, Y2, Y0
	ADDQ         $210, SI
	ADDQ         $256, DI
	ADDQ         $32, BX
	ADDQ         $4, DX
	DECQ         CX
	JNZ          k6loop

k6done:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+40(FP)
	RET

#undef K6GROUP

// K6ONE(x, acc): one vector's share of a group (6-bit values in Y5, the
// scales in Y4) against its activation bytes x, into its lanes acc.
#define K6ONE(x, acc) \
	VPMADDUBSW x, Y5, Y6 \
	K6MADD(Y6, Y4, acc)

// Four vectors: integer lanes Y10-Y13, float lanes Y0-Y3; vector v's
// quants at DI + v·qstride (R9 = qstride, R10 = 3·qstride), its sums of
// 16 at BX + v·R14 (R14 = qstride/8, R13 = 3·R14); the four vectors'
// scales interleaved at DX, 16 bytes a super-block; their products d·dx
// in both halves of Y8.
#define K6GROUP(xoff, shuf) \
	K6SC(shuf, Y4) \
	K6ONE(xoff(DI), Y10) \
	K6ONE(xoff(DI)(R9*1), Y11) \
	K6ONE(xoff(DI)(R9*2), Y12) \
	K6ONE(xoff(DI)(R10*1), Y13)

// KX4ROW: a row's start in the four-vector K-quant tiles (here and in
// intq4k_amd64.h): its pointers, R14 and R13, and Y0-Y3 zeroed.
#define KX4ROW \
	MOVQ   0(SP), SI \
	MOVQ   d4+24(FP), DX \
	MOVQ   qs+32(FP), DI \
	MOVQ   bs+40(FP), BX \
	MOVQ   R9, R14 \
	SHRQ   $3, R14 \
	LEAQ   (R14)(R14*2), R13 \
	MOVQ   nsb+48(FP), CX \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3

// KX4END(stride): a row's end: the four vectors' sums (Y0-Y3) stored,
// dst[k·stride] for vector k (stride the argument dstStride), and the
// frame moved to the next row. Clobbers AX, R8 and R11.
#define KX4END(stride) \
	X4HSUM(Y0, Y1, Y2, Y3, X0, X1, X2, X3) \
	MOVQ 8(SP), AX \
	MOVQ stride, R8 \
	SHLQ $2, R8 \
	MOVQ AX, R11 \
	Q8STORE(X0, R11) \
	ADDQ $4, AX \
	MOVQ AX, 8(SP) \
	MOVQ rowBytes+8(FP), AX \
	ADDQ AX, 0(SP) \
	DECQ 16(SP)

// K6FMA4(acc, sel, f): f += float(acc) × vector sel's d·dx.
#define K6FMA4(acc, sel, f) \
	VCVTDQ2PS   acc, acc \
	VSHUFPS     sel, Y8, Y8, Y7 \
	VFMADD231PS acc, Y7, f

// func dotQ6Kx4Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)
TEXT NAME_Q6KX4ROWS, NOSPLIT, $32-80
	X4FRAME(dst+64(FP), qstride+56(FP))
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

k4row:
	CMPQ   16(SP), $0
	JLE    k4done
	KX4ROW

k4loop:
	TESTQ          CX, CX
	JZ             k4sum
	K6PREFETCH
	K6D(Y8, X8)
	VBROADCASTF128 (DX), Y9
	VMULPS         Y9, Y8, Y8
	K6NSC(Y9, Y7)
	VPMADDWD       (BX), Y9, Y10
	VPMADDWD       (BX)(R14*1), Y9, Y11
	VPMADDWD       (BX)(R14*2), Y9, Y12
	VPMADDWD       (BX)(R13*1), Y9, Y13
	K6SB
	K6FMA4(Y10, $0x00, Y0)
	K6FMA4(Y11, $0x55, Y1)
	K6FMA4(Y12, $0xaa, Y2)
	K6FMA4(Y13, $0xff, Y3)
	ADDQ           $210, SI
	ADDQ           $256, DI
	ADDQ           $32, BX
	ADDQ           $16, DX
	DECQ           CX
	JMP            k4loop

k4sum:
	KX4END(dstStride+72(FP))
	JMP  k4row

k4done:
	VZEROUPPER
	RET

#undef K6GROUP

// Eight vectors: integer lanes Y0-Y3 (vectors 0-3) and Y8-Y11 (4-7);
// vector v's quants at DI + v·qstride and, for v ≥ 4, R11 + (v-4)·qstride;
// its sums of 16 at BX + v·R14 (R14 = qstride/8); the scales of vectors
// 0-3 interleaved at DX, of vectors 4-7 at DX + R12. Frame: 0 current
// row, 8 current output, 16 rows left, 32 + 4v the super-block's d·dx
// of vector v (64-95 unused: intq4k_amd64.h's, which shares K6ZERO8 and
// K6LOAD8); the float lanes of vector v at 96 + 32v (AVX2 build) or in
// Y16+v (VNNI build, whose EVEX registers the AVX2 build lacks).
#define K6GROUP(xoff, shuf) \
	K6SC(shuf, Y4) \
	K6ONE(xoff(DI), Y0) \
	K6ONE(xoff(DI)(R9*1), Y1) \
	K6ONE(xoff(DI)(R9*2), Y2) \
	K6ONE(xoff(DI)(R10*1), Y3) \
	K6ONE(xoff(R11), Y8) \
	K6ONE(xoff(R11)(R9*1), Y9) \
	K6ONE(xoff(R11)(R9*2), Y10) \
	K6ONE(xoff(R11)(R10*1), Y11)

#ifdef X4VNNI
// K6FMA8(acc, p, fo, f): a vector's float lanes f += float(acc) × its
// d·dx at p(SP) (fo, the AVX2 build's frame offset of f, unused).
#define K6FMA8(acc, p, fo, f) \
	VCVTDQ2PS        acc, acc \
	VFMADD231PS.BCST p(SP), acc, f
#define K6ZERO8 X2ZERO16 // (intdot8_vnni_amd64.h)
#define K6LOAD8 \
	VMOVDQU64 Y16, Y0 \
	VMOVDQU64 Y17, Y1 \
	VMOVDQU64 Y18, Y2 \
	VMOVDQU64 Y19, Y3 \
	VMOVDQU64 Y20, Y8 \
	VMOVDQU64 Y21, Y9 \
	VMOVDQU64 Y22, Y10 \
	VMOVDQU64 Y23, Y11
#else
// K6FMA8, AVX2: the same fused multiply-add (the product's factors in the
// other order, which does not change it), the lanes kept in the frame.
#define K6FMA8(acc, p, fo, f) \
	VCVTDQ2PS    acc, acc \
	VBROADCASTSS p(SP), Y6 \
	VFMADD213PS  fo(SP), Y6, acc \
	VMOVUPS      acc, fo(SP)
#define K6ZERO8 \
	VXORPS  Y6, Y6, Y6 \
	VMOVUPS Y6, 96(SP) \
	VMOVUPS Y6, 128(SP) \
	VMOVUPS Y6, 160(SP) \
	VMOVUPS Y6, 192(SP) \
	VMOVUPS Y6, 224(SP) \
	VMOVUPS Y6, 256(SP) \
	VMOVUPS Y6, 288(SP) \
	VMOVUPS Y6, 320(SP)
#define K6LOAD8 \
	VMOVUPS 96(SP), Y0 \
	VMOVUPS 128(SP), Y1 \
	VMOVUPS 160(SP), Y2 \
	VMOVUPS 192(SP), Y3 \
	VMOVUPS 224(SP), Y8 \
	VMOVUPS 256(SP), Y9 \
	VMOVUPS 288(SP), Y10 \
	VMOVUPS 320(SP), Y11
#endif

// KX8ENTRY, KX8ROW: the eight-vector K-quant tiles' entry (the frame,
// R12, Y14) and row start (pointers, R14, the float lanes zeroed), here
// and in intq4k_amd64.h.
#define KX8ENTRY \
	X4FRAME(dst+64(FP), qstride+56(FP)) \
	MOVQ         nsb+48(FP), R12 \
	SHLQ         $4, R12 /* 16 bytes of scales a super-block */ \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X14 \
	VPBROADCASTD X14, Y14
#define KX8ROW \
	MOVQ 0(SP), SI \
	MOVQ d4+24(FP), DX \
	MOVQ qs+32(FP), DI \
	LEAQ (DI)(R9*4), R11 \
	MOVQ bs+40(FP), BX \
	MOVQ R9, R14 \
	SHRQ $3, R14 \
	MOVQ nsb+48(FP), CX \
	K6ZERO8

// func dotQ6Kx8Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, bs *int16, nsb, qstride int, dst *float32, dstStride int)
TEXT NAME_Q6KX8ROWS, NOSPLIT, $352-80
	KX8ENTRY

k8row:
	CMPQ 16(SP), $0
	JLE  k8done
	KX8ROW

k8loop:
	TESTQ       CX, CX
	JZ          k8sum
	K6PREFETCH
	K6D(Y7, X7)
	VMOVUPS     (DX), X6
	VINSERTF128 $1, (DX)(R12*1), Y6, Y6
	VMULPS      Y6, Y7, Y6
	VMOVUPS     Y6, 32(SP)
	K6NSC(Y4, Y6)
	MOVQ        BX, AX
	VPMADDWD    (AX), Y4, Y0
	ADDQ        R14, AX
	VPMADDWD    (AX), Y4, Y1
	ADDQ        R14, AX
	VPMADDWD    (AX), Y4, Y2
	ADDQ        R14, AX
	VPMADDWD    (AX), Y4, Y3
	ADDQ        R14, AX
	VPMADDWD    (AX), Y4, Y8
	ADDQ        R14, AX
	VPMADDWD    (AX), Y4, Y9
	ADDQ        R14, AX
	VPMADDWD    (AX), Y4, Y10
	ADDQ        R14, AX
	VPMADDWD    (AX), Y4, Y11
	K6SB
	K6FMA8(Y0, 32, 96, Y16)
	K6FMA8(Y1, 36, 128, Y17)
	K6FMA8(Y2, 40, 160, Y18)
	K6FMA8(Y3, 44, 192, Y19)
	K6FMA8(Y8, 48, 224, Y20)
	K6FMA8(Y9, 52, 256, Y21)
	K6FMA8(Y10, 56, 288, Y22)
	K6FMA8(Y11, 60, 320, Y23)
	ADDQ        $210, SI
	ADDQ        $256, DI
	ADDQ        $256, R11
	ADDQ        $32, BX
	ADDQ        $16, DX
	DECQ        CX
	JMP         k8loop

k8sum:
	K6LOAD8
	X8END(dstStride+72(FP), Y8, Y9, Y10, Y11, X8, X9, X10, X11)
	JMP k8row

k8done:
	VZEROUPPER
	RET

#undef K6GROUP
