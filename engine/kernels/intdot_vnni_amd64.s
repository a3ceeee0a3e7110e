#include "textflag.h"

// The integer kernels with AVX-512 VNNI's VPDPBUSD on 256-bit registers
// (EVEX-encoded, so they need AVX512VL too; see intdot_amd64.h), and this
// build's own one-row Q8_0, Q5_0 and Q4_K kernels below, which one-
// stream decode runs: fewer instructions a block, 512-bit where two
// blocks' integer sums fit one register, and the AVX2 kernels' float
// steps in their order, so their bits (TestIntBuildsAgree).

#define I8SETUP

#define I8DOT(x, u, dst) \
	VPXOR    dst, dst, dst \
	VPDPBUSD x, u, dst

#define NAME_Q40 ·dotQ40VNNI(SB)
#define NAME_Q5K ·dotQ5KVNNI(SB)
#define NAME_Q80X2 ·dotQ80x2VNNI(SB)
#define NAME_Q50X2 ·dotQ50x2VNNI(SB)

#include "intdot_amd64.h"
#include "introws_amd64.h"

// dotQ4KVNNI is this build's own (intdot_amd64.h's is AVX2's only): one
// 512-bit VPDPBUSD takes a chunk of 64 weights, both sub-blocks at once,
// its low half the low nibbles (even sub-block) and its high half the
// high ones. The per-lane float steps are dotQ4KAVX2's, in its order:
// the low half of Z0 is its Y0 (even sub-blocks), the high half its Y12
// (odd), Y13 the mins' correction; so are its bits (TestIntBuildsAgree).
// A chunk costs 8 instructions against 12 for the 256-bit pair.

// Dword indexes of the sub-block coefficients of chunk k, 2k in the low
// half and 2k+1 in the high one, for VPERMPS.
#define IDX16(o, lo, hi) \
	DATA q4kidx<>+o(SB)/8, $(lo<<32|lo) \
	DATA q4kidx<>+o+8(SB)/8, $(lo<<32|lo) \
	DATA q4kidx<>+o+16(SB)/8, $(lo<<32|lo) \
	DATA q4kidx<>+o+24(SB)/8, $(lo<<32|lo) \
	DATA q4kidx<>+o+32(SB)/8, $(hi<<32|hi) \
	DATA q4kidx<>+o+40(SB)/8, $(hi<<32|hi) \
	DATA q4kidx<>+o+48(SB)/8, $(hi<<32|hi) \
	DATA q4kidx<>+o+56(SB)/8, $(hi<<32|hi)
IDX16(0, 0, 1)
IDX16(64, 2, 3)
IDX16(128, 4, 5)
IDX16(192, 6, 7)
GLOBL q4kidx<>(SB), RODATA|NOPTR, $256

// A 64-byte constant of qword lo in its low half and hi in its high one.
#define HALVES(name, lo, hi) \
	DATA name+0(SB)/8, $lo \
	DATA name+8(SB)/8, $lo \
	DATA name+16(SB)/8, $lo \
	DATA name+24(SB)/8, $lo \
	DATA name+32(SB)/8, $hi \
	DATA name+40(SB)/8, $hi \
	DATA name+48(SB)/8, $hi \
	DATA name+56(SB)/8, $hi \
	GLOBL name(SB), RODATA|NOPTR, $64

// VPSRLVW counts: 0 for the low half's words, 4 for the high half's.
HALVES(q4kshift<>, 0, 0x0004000400040004)

// KSETUP without the frame: the coefficients d*dx[j]*sc[j] stay in Y1.
// d and dmin are converted with one VCVTPH2PS of the header's first 8
// bytes (lanes 2 and 3, scale bytes, are never used).
#define KSETUPZ \
	VCVTPH2PS    (SI), X1 \
	VMOVSHDUP    X1, X2 \
	VBROADCASTSS X1, Y1 \
	VBROADCASTSS X2, Y2 \
	KSCALES \
	VMOVUPS      (DX), Y5 \
	VMULPS       Y5, Y1, Y1 \
	VMULPS       Y3, Y1, Y1 \
	VMULPS       Y5, Y2, Y2 \
	VMULPS       Y4, Y2, Y2 \
	VCVTDQ2PS    (BX), Y6 \
	VFMADD231PS  Y6, Y2, Y13

// Chunk k of the super-block at SI: 32 bytes of nibbles at 16+32k(SI)
// against 64 activation bytes at 64k(DI); Z0 += coefficients (Y1
// permuted by idx) × float(sums). Clobbers w, s and c.
#define KCHUNKZ(k, idx, w, s, c) \
	VBROADCASTI64X4 16+32*k(SI), w \
	VPSRLVW         Z15, w, w \
	VPANDD          Z14, w, w \
	VPXORD          s, s, s \
	VPDPBUSD        64*k(DI), w, s \
	VCVTDQ2PS       s, s \
	VPERMPS         Z1, idx, c \
	VFMADD231PS     s, c, Z0

// func dotQ4KVNNI(row *byte, d *float32, qs *int8, sum *int32, nsb int) float32
TEXT ·dotQ4KVNNI(SB), NOSPLIT, $0-44
	MOVQ      row+0(FP), SI
	MOVQ      d+8(FP), DX
	MOVQ      qs+16(FP), DI
	MOVQ      sum+24(FP), BX
	MOVQ      nsb+32(FP), CX
	MOVL      $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z14
	VMOVDQU32 q4kshift<>(SB), Z15
	VMOVDQU32 q4kidx<>+0(SB), Z9
	VMOVDQU32 q4kidx<>+64(SB), Z10
	VMOVDQU32 q4kidx<>+128(SB), Z11
	VMOVDQU32 q4kidx<>+192(SB), Z12
	VXORPS    Y0, Y0, Y0
	VXORPS    Y13, Y13, Y13
	TESTQ     CX, CX
	JZ        q4kzdone

q4kzloop:
	// 8 super-blocks ahead, as dotQ4KAVX2. A single long stream runs
	// faster without (BenchmarkDotBuilds from memory), but the forward
	// pass, which streams one matrix after another, ran 6-8% faster
	// with them (vnnidec session).
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	PREFETCHT0 1280(SI)
	KSETUPZ
	KCHUNKZ(0, Z9, Z3, Z4, Z5)
	KCHUNKZ(1, Z10, Z6, Z7, Z8)
	KCHUNKZ(2, Z11, Z3, Z4, Z5)
	KCHUNKZ(3, Z12, Z6, Z7, Z8)
	ADDQ       $144, SI
	ADDQ       $256, DI
	ADDQ       $32, DX
	ADDQ       $32, BX
	DECQ       CX
	JNZ        q4kzloop

q4kzdone:
	VEXTRACTF64X4 $1, Z0, Y12
	VADDPS        Y12, Y0, Y0
	VSUBPS        Y13, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS         X0, ret+40(FP)
	RET

// dotQ50VNNI is this build's own as well, with the two-row kernels' block
// decoding (introws_amd64.h: the scale converted from memory, the weights
// plus 16 as unsigned bytes from Q5UX) on one row, two blocks an
// iteration; the 16 is taken back per lane by a second VPDPBUSD of 16s
// with the same activations, so the integer lanes, and then the float
// steps, are dotQ50AVX2's. About 19 instructions a block against 29.
#define Q50ONE(o, xo, dof) \
	SCALEX(o, (SI), dof) \
	Q5UX(o, (SI)) \
	VPXOR       Y6, Y6, Y6 \
	VPDPBUSD    xo(DI), Y2, Y6 \
	VPXOR       Y5, Y5, Y5 \
	VPDPBUSD    xo(DI), Y15, Y5 \
	VPSUBD      Y5, Y6, Y6 \
	VCVTDQ2PS   Y6, Y6 \
	VFMADD231PS Y6, Y1, Y0

// func dotQ50VNNI(row *byte, d *float32, qs *int8, nb int) float32
TEXT ·dotQ50VNNI(SB), NOSPLIT, $0-36
	MOVQ    row+0(FP), SI
	MOVQ    d+8(FP), DX
	MOVQ    qs+16(FP), DI
	MOVQ    nb+24(FP), CX
	BYTES($0x0f0f0f0f, Y14)
	BYTES($0x10101010, Y15)
	VMOVDQU q5sign<>(SB), Y13
	VMOVDQU q5spread<>(SB), Y12
	VMOVDQU q5bit<>(SB), Y11
	VMOVDQU q5nibshift<>(SB), Y10
	VXORPS  Y0, Y0, Y0
	MOVQ    CX, R9
	SHRQ    $1, R9
	JZ      q50ztail

q50zloop:
	PREFETCHT0 1056(SI) // 48 blocks ahead; see dotQ4KVNNI
	Q50ONE(0, 0, 0)
	Q50ONE(22, 32, 4)
	ADDQ $44, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ R9
	JNZ  q50zloop

q50ztail:
	TESTQ $1, CX
	JZ    q50zdone
	Q50ONE(0, 0, 0)

q50zdone:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// dotQ80VNNI, likewise: the scale converted from memory (SCALEX) and two
// blocks an iteration, DOT2's steps otherwise; about 13 instructions a
// block against 18, which leaves the FMA chain as the limit.
#define Q80ONE(o, xo, dof) \
	VMOVDQU xo(DI), Y3 \
	SCALEX(o, (SI), dof) \
	VMOVDQU o+2(SI), Y2 \
	DOT2(Y0)

// func dotQ80VNNI(row *byte, d *float32, qs *int8, nb int) float32
TEXT ·dotQ80VNNI(SB), NOSPLIT, $0-36
	MOVQ   row+0(FP), SI
	MOVQ   d+8(FP), DX
	MOVQ   qs+16(FP), DI
	MOVQ   nb+24(FP), CX
	VXORPS Y0, Y0, Y0
	MOVQ   CX, R9
	SHRQ   $1, R9
	JZ     q80ztail

q80zloop:
	PREFETCHT0 1088(SI) // 32 blocks ahead, one per block; see dotQ4KVNNI
	PREFETCHT0 1122(SI)
	Q80ONE(0, 0, 0)
	Q80ONE(34, 32, 4)
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ R9
	JNZ  q80zloop

q80ztail:
	TESTQ $1, CX
	JZ    q80zdone
	Q80ONE(0, 0, 0)

q80zdone:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET
