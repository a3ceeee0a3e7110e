#include "textflag.h"

// The integer kernels with AVX-512 VNNI's VPDPBUSD on 256-bit registers
// (EVEX-encoded, so they need AVX512VL too; see intdot_amd64.h), and this
// build's own one-row Q8_0 and Q5_0 kernels below, which one-
// stream decode runs: fewer instructions a block, 512-bit where two
// blocks' integer sums fit one register, and the AVX2 kernels' float
// steps in their order, so their bits (TestIntBuildsAgree).

#define I8SETUP

#define I8DOT(x, u, dst) \
	VPXOR    dst, dst, dst \
	VPDPBUSD x, u, dst

#define NAME_Q40 ·dotQ40VNNI(SB)
#define NAME_Q80X2 ·dotQ80x2VNNI(SB)
#define NAME_Q50X2 ·dotQ50x2VNNI(SB)

#include "intdot_amd64.h"
#include "introws_amd64.h"

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
