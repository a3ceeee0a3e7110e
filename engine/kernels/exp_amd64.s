#include "textflag.h"

// Broadcast the 32-bit constant c into Yn (x is Xn, the same register).
#define BCAST(c, x, y) \
	MOVL         c, AX \
	VMOVD        AX, x \
	VBROADCASTSS x, y

// EXPCONSTS loads the constants of EXPY1: log2(e), the two parts of ln2,
// the polynomial's six coefficients and 1 (Y13 down to Y4).
#define EXPCONSTS \
	BCAST($0x3fb8aa3b, X13, Y13) \
	BCAST($0x3f318000, X12, Y12) \
	BCAST($0x395e8083, X11, Y11) \
	BCAST($0x39506967, X10, Y10) \
	BCAST($0x3ab743ce, X9, Y9) \
	BCAST($0x3c088908, X8, Y8) \
	BCAST($0x3d2aa9c1, X7, Y7) \
	BCAST($0x3e2aaaaa, X6, Y6) \
	BCAST($0x3f000000, X5, Y5) \
	BCAST($0x3f800000, X4, Y4)

// EXPY1: Y15 = e^Y1, eight lanes, by expf's Cephes reduction and
// polynomial, with n rounded to nearest by VROUNDPS and Y1 clamped to
// [-87.33654, 88.37626] (below, the result is ~1e-38 instead of 0).
// Clobbers Y1-Y3 and AX.
#define EXPY1 \
	BCAST($0xc2aeac4f, X15, Y15) \
	VMAXPS       Y15, Y1, Y1 \
	BCAST($0x42b0c0a5, X15, Y15) \
	VMINPS       Y15, Y1, Y1 \
	VMULPS       Y13, Y1, Y2 \
	VROUNDPS     $0, Y2, Y2 \
	VFNMADD231PS Y12, Y2, Y1 \
	VFMADD231PS  Y11, Y2, Y1 \
	VMULPS       Y1, Y1, Y3 \
	VMOVAPS      Y10, Y15 \
	VFMADD213PS  Y9, Y1, Y15 \
	VFMADD213PS  Y8, Y1, Y15 \
	VFMADD213PS  Y7, Y1, Y15 \
	VFMADD213PS  Y6, Y1, Y15 \
	VFMADD213PS  Y5, Y1, Y15 \
	VFMADD213PS  Y1, Y3, Y15 \
	VADDPS       Y4, Y15, Y15 \
	VCVTPS2DQ    Y2, Y2 \
	BCAST($127, X3, Y3) \
	VPADDD       Y3, Y2, Y2 \
	VPSLLD       $23, Y2, Y2 \
	VMULPS       Y2, Y15, Y15

// func expSumAVX2(x *float32, n int, sub float32) float32
// x[i] = e^(x[i]-sub) for n (a multiple of 8) elements, returning their
// sum: expf eight lanes at a time (EXPY1).
TEXT ·expSumAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS sub+16(FP), Y14
	EXPCONSTS
	VXORPS       Y0, Y0, Y0

exploop:
	CMPQ    CX, $8
	JL      expdone
	VMOVUPS (DI), Y1
	VSUBPS  Y14, Y1, Y1
	EXPY1
	VMOVUPS Y15, (DI)
	VADDPS  Y15, Y0, Y0
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     exploop

expdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func siluMulAVX2(a, b *float32, n int)
// a[i] = a[i] / (1 + e^-a[i]) * b[i] for n (a multiple of 8) elements:
// SiLUMul eight lanes at a time, e^-a by EXPY1 (so a below -88.4 gives a
// tiny value instead of -0).
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ   a+0(FP), DI
	MOVQ   b+8(FP), SI
	MOVQ   n+16(FP), CX
	EXPCONSTS
	VXORPS Y0, Y0, Y0

siluloop:
	CMPQ    CX, $8
	JL      siludone
	VMOVUPS (DI), Y14
	VSUBPS  Y14, Y0, Y1 // -a
	EXPY1
	VADDPS  Y4, Y15, Y15 // 1 + e^-a
	VDIVPS  Y15, Y14, Y14
	VMULPS  (SI), Y14, Y14
	VMOVUPS Y14, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     siluloop

siludone:
	VZEROUPPER
	RET
