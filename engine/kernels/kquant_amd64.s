#include "textflag.h"

// K-quant dot products against Q8_0-style activation blocks (see dot.go).
// Go operand order: VPMADDUBSW m, u, dst multiplies unsigned bytes u by
// signed bytes m.

// Sub-block pair of a Q4_K chunk: 32 bytes of nibbles at qoff(SI), low
// nibbles against activation bytes xoff(DI), high nibbles against xoff+32.
// Each partial sum is scaled by its sub-block's coefficient from the frame.
#define Q4KCHUNK(qoff, xoff, clo, chi) \
	VMOVDQU      qoff(SI), Y6 \
	VPSRLW       $4, Y6, Y7 \
	VPAND        Y14, Y6, Y6 \
	VPAND        Y14, Y7, Y7 \
	VPMADDUBSW   xoff(DI), Y6, Y6 \
	VPMADDUBSW   xoff+32(DI), Y7, Y7 \
	VPMADDWD     Y15, Y6, Y6 \
	VPMADDWD     Y15, Y7, Y7 \
	VCVTDQ2PS    Y6, Y6 \
	VCVTDQ2PS    Y7, Y7 \
	VBROADCASTSS clo(SP), Y8 \
	VBROADCASTSS chi(SP), Y9 \
	VFMADD231PS  Y6, Y8, Y0 \
	VFMADD231PS  Y7, Y9, Y12

// func dotQ4KAVX2(row *byte, d *float32, qs *int8, sum *int32, nsb int) float32
TEXT ·dotQ4KAVX2(SB), NOSPLIT, $32-44
	MOVQ         row+0(FP), SI
	MOVQ         d+8(FP), DX
	MOVQ         qs+16(FP), DI
	MOVQ         sum+24(FP), BX
	MOVQ         nsb+32(FP), CX
	MOVL         $0x00010001, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VXORPS       Y0, Y0, Y0
	VXORPS       Y12, Y12, Y12
	VXORPS       Y13, Y13, Y13

q4kloop:
	TESTQ CX, CX
	JZ    q4kdone

	// d and dmin, broadcast.
	MOVWLZX      (SI), AX
	VMOVD        AX, X1
	VCVTPH2PS    X1, X1
	VBROADCASTSS X1, Y1
	MOVWLZX      2(SI), AX
	VMOVD        AX, X2
	VCVTPH2PS    X2, X2
	VBROADCASTSS X2, Y2

	// Unpack the eight 6-bit scales (R11: 0-3, R13: 4-7) and mins (R12, R10)
	// four at a time from the three 32-bit words of the scales field.
	MOVL  4(SI), R8
	MOVL  8(SI), R9
	MOVL  12(SI), R10
	MOVL  R8, R11
	ANDL  $0x3f3f3f3f, R11
	MOVL  R9, R12
	ANDL  $0x3f3f3f3f, R12
	MOVL  R10, R13
	ANDL  $0x0f0f0f0f, R13
	SHRL  $6, R8
	ANDL  $0x03030303, R8
	SHLL  $4, R8
	ORL   R8, R13
	SHRL  $4, R10
	ANDL  $0x0f0f0f0f, R10
	SHRL  $6, R9
	ANDL  $0x03030303, R9
	SHLL  $4, R9
	ORL   R9, R10

	VMOVD     R11, X3
	VPINSRD   $1, R13, X3, X3
	VPMOVZXBD X3, Y3
	VCVTDQ2PS Y3, Y3
	VMOVD     R12, X4
	VPINSRD   $1, R10, X4, X4
	VPMOVZXBD X4, Y4
	VCVTDQ2PS Y4, Y4

	// coef[j] = d*sc[j]*dx[j] to the frame; mins: Y13 += dmin*m[j]*dx[j]*Σqx[j].
	VMOVUPS     (DX), Y5
	VMULPS      Y5, Y1, Y1
	VMULPS      Y3, Y1, Y1
	VMOVUPS     Y1, 0(SP)
	VMULPS      Y5, Y2, Y2
	VMULPS      Y4, Y2, Y2
	VCVTDQ2PS   (BX), Y6
	VFMADD231PS Y6, Y2, Y13

	Q4KCHUNK(16, 0, 0, 4)
	Q4KCHUNK(48, 64, 8, 12)
	Q4KCHUNK(80, 128, 16, 20)
	Q4KCHUNK(112, 192, 24, 28)

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, BX
	DECQ CX
	JMP  q4kloop

q4kdone:
	VADDPS       Y12, Y0, Y0
	VSUBPS       Y13, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+40(FP)
	RET

// One Q6_K group of 32 elements: 6-bit values in Y5 (0..63) against
// activation bytes xoff(DI). Σ(q-32)·x = Σq·x - Σ32·x (Y9 = bytes of 32);
// VPMADDWD with the sub-block scales (lower lane scoff(SI), upper
// scoff+1(SI), as int16) applies the two 16-element scales; then
// Y0 += d*dx * float(that). X1 holds d.
#define Q6KGROUP(xoff, scoff, dxoff) \
	VMOVDQU      xoff(DI), Y7 \
	VPMADDUBSW   Y7, Y5, Y5 \
	VPMADDUBSW   Y7, Y9, Y6 \
	VPSUBW       Y6, Y5, Y5 \
	MOVBLSX      scoff(SI), AX \
	MOVBLSX      scoff+1(SI), R8 \
	VMOVD        AX, X6 \
	VPBROADCASTW X6, X6 \
	VMOVD        R8, X8 \
	VPBROADCASTW X8, X8 \
	VINSERTI128  $1, X8, Y6, Y6 \
	VPMADDWD     Y6, Y5, Y5 \
	VCVTDQ2PS    Y5, Y5 \
	VMULSS       dxoff(DX), X1, X8 \
	VBROADCASTSS X8, Y8 \
	VFMADD231PS  Y5, Y8, Y0

// Decode the four groups of one 128-element half: ql at qloff(SI) (64
// bytes), qh at qhoff(SI) (32 bytes). Group k takes low nibbles (k<2) or
// high nibbles of ql[32(k&1):], and bits 2k..2k+1 of qh as bits 4-5.
#define Q6KHALF(qloff, qhoff, xoff, scoff, dxoff) \
	VMOVDQU qhoff(SI), Y2 \
	VMOVDQU qloff(SI), Y3 \
	VMOVDQU qloff+32(SI), Y4 \
	VPAND   Y14, Y3, Y5 \
	VPAND   Y13, Y2, Y6 \
	VPSLLW  $4, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6KGROUP(xoff, scoff, dxoff) \
	VPAND   Y14, Y4, Y5 \
	VPAND   Y12, Y2, Y6 \
	VPSLLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6KGROUP(xoff+32, scoff+2, dxoff+4) \
	VPSRLW  $4, Y3, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPAND   Y11, Y2, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6KGROUP(xoff+64, scoff+4, dxoff+8) \
	VPSRLW  $4, Y4, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPAND   Y10, Y2, Y6 \
	VPSRLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q6KGROUP(xoff+96, scoff+6, dxoff+12)

#define BYTES(c, reg) \
	MOVL         c, AX \
	VMOVD        AX, X8 \
	VPBROADCASTD X8, reg

// func dotQ6KAVX2(row *byte, d *float32, qs *int8, nsb int) float32
TEXT ·dotQ6KAVX2(SB), NOSPLIT, $0-36
	MOVQ   row+0(FP), SI
	MOVQ   d+8(FP), DX
	MOVQ   qs+16(FP), DI
	MOVQ   nsb+24(FP), CX
	BYTES($0x0f0f0f0f, Y14)
	BYTES($0x03030303, Y13)
	BYTES($0x0c0c0c0c, Y12)
	BYTES($0x30303030, Y11)
	BYTES($0xc0c0c0c0, Y10)
	BYTES($0x20202020, Y9)
	VXORPS Y0, Y0, Y0

q6kloop:
	TESTQ     CX, CX
	JZ        q6kdone
	MOVWLZX   208(SI), AX
	VMOVD     AX, X1
	VCVTPH2PS X1, X1
	Q6KHALF(0, 128, 0, 192, 0)
	Q6KHALF(64, 160, 128, 200, 16)
	ADDQ      $210, SI
	ADDQ      $256, DI
	ADDQ      $32, DX
	DECQ      CX
	JMP       q6kloop

q6kdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+32(FP)
	RET
