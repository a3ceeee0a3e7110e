#include "textflag.h"

// The integer kernels with AVX2's VPMADDUBSW and VPMADDWD (see intdot_amd64.h).

#define I8SETUP \
	MOVL         $0x00010001, AX \
	VMOVD        AX, X15 \
	VPBROADCASTD X15, Y15

#define I8DOT(x, u, dst) \
	VPMADDUBSW x, u, dst \
	VPMADDWD   Y15, dst, dst

// Q6_K scales its int16 pair sums with VPMADDWD (see Q6KGROUP).
#define Q6K_INT16

#define NAME_Q80 ·dotQ80AVX2(SB)
#define NAME_Q40 ·dotQ40AVX2(SB)
#define NAME_Q50 ·dotQ50AVX2(SB)
#define NAME_Q4K ·dotQ4KAVX2(SB)
#define NAME_Q5K ·dotQ5KAVX2(SB)
#define NAME_Q6K ·dotQ6KAVX2(SB)

#include "intdot_amd64.h"

// One-vector dot products of two weight rows at a time, Q8_0 and Q5_0,
// with AVX2 (introws_amd64.go calls them). Each row keeps its own
// accumulator and adds its blocks in the order dotQ80AVX2 and dotQ50AVX2
// do, with intdot_amd64.h's macros and constants, so the results are
// theirs bit for bit; the two independent chains of FMAs
// hide each other's latency, and the activations are loaded once for
// both rows. Two rows read at once are two streams from memory, which the
// hardware prefetchers served worse than one (the pairs were 0.7× the
// one-row kernel on a matrix from memory): each iteration prefetches the
// next pair's bytes at the same offset, 2·rowBytes ahead.

// Block scale dw(f16 at p)*dx(f32 at DX) broadcast into Y1; clobbers AX.
#define SCALE2(p) \
	MOVWLZX      (p), AX \
	VMOVD        AX, X1 \
	VCVTPH2PS    X1, X1 \
	VMULSS       (DX), X1, X1 \
	VBROADCASTSS X1, Y1

// acc += Y1 * float(Σ w(Y2)·x(Y3)), as DOTI8.
#define DOT2(acc) \
	VPSIGNB     Y2, Y2, Y4 \
	VPSIGNB     Y2, Y3, Y5 \
	I8DOT(Y5, Y4, Y6) \
	VCVTDQ2PS   Y6, Y6 \
	VFMADD231PS Y6, Y1, acc

// func dotQ80x2AVX2(row *byte, rowBytes int, d *float32, qs *int8, nb int, dst *float32)
TEXT ·dotQ80x2AVX2(SB), NOSPLIT, $0-48
	MOVQ         row+0(FP), SI
	MOVQ         rowBytes+8(FP), R8
	LEAQ         (R8)(R8*1), R10
	ADDQ         SI, R8
	MOVQ         d+16(FP), DX
	MOVQ         qs+24(FP), DI
	MOVQ         nb+32(FP), CX
	I8SETUP
	VXORPS       Y0, Y0, Y0
	VXORPS       Y9, Y9, Y9

q80x2loop:
	TESTQ   CX, CX
	JZ      q80x2done
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (R8)(R10*1)
	VMOVDQU (DI), Y3
	SCALE2(SI)
	VMOVDQU 2(SI), Y2
	DOT2(Y0)
	SCALE2(R8)
	VMOVDQU 2(R8), Y2
	DOT2(Y9)
	ADDQ    $34, SI
	ADDQ    $34, R8
	ADDQ    $4, DX
	ADDQ    $32, DI
	DECQ    CX
	JMP     q80x2loop

q80x2done:
	MOVQ      dst+40(FP), R9
	HSUM
	MOVSS     X0, (R9)
	VMOVAPS   Y9, Y0
	HSUM
	MOVSS     X0, 4(R9)
	VZEROUPPER
	RET

// acc += Y1 * float(Σ (w+16)·x(Y3) + c16 lanes at BX): the lanes are
// DOT2's integers, Σ w·x over four bytes, without the sign instructions
// (as the four-vector tiles' X4UPAIR).
#define DOTU2(acc) \
	I8DOT(Y3, Y2, Y6) \
	VPADDD      (BX), Y6, Y6 \
	VCVTDQ2PS   Y6, Y6 \
	VFMADD231PS Y6, Y1, acc

// func dotQ50x2AVX2(row *byte, rowBytes int, d *float32, qs *int8, c16 *int32, nb int, dst *float32)
TEXT ·dotQ50x2AVX2(SB), NOSPLIT, $0-56
	MOVQ    row+0(FP), SI
	MOVQ    rowBytes+8(FP), R8
	LEAQ    (R8)(R8*1), R10
	ADDQ    SI, R8
	MOVQ    d+16(FP), DX
	MOVQ    qs+24(FP), DI
	MOVQ    c16+32(FP), BX
	MOVQ    nb+40(FP), CX
	I8SETUP
	BYTES($0x0f0f0f0f, Y14)
	BYTES($0x10101010, Y13)
	VMOVDQU q5spread<>(SB), Y12
	VMOVDQU q5bit<>(SB), Y11
	VXORPS  Y0, Y0, Y0
	VXORPS  Y9, Y9, Y9

q50x2loop:
	TESTQ   CX, CX
	JZ      q50x2done
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (R8)(R10*1)
	VMOVDQU (DI), Y3
	SCALE2(SI)
	Q5U(SI)
	DOTU2(Y0)
	SCALE2(R8)
	Q5U(R8)
	DOTU2(Y9)
	ADDQ    $22, SI
	ADDQ    $22, R8
	ADDQ    $4, DX
	ADDQ    $32, DI
	ADDQ    $32, BX
	DECQ    CX
	JMP     q50x2loop

q50x2done:
	MOVQ    dst+48(FP), R9
	HSUM
	MOVSS   X0, (R9)
	VMOVAPS Y9, Y0
	HSUM
	MOVSS   X0, 4(R9)
	VZEROUPPER
	RET
