#include "textflag.h"

// Broadcast the 32-bit constant c into Yn (x is Xn, the same register).
#define BCAST(c, x, y) \
	MOVL         c, AX \
	VMOVD        AX, x \
	VBROADCASTSS x, y

// func expSumAVX2(x *float32, n int, sub float32) float32
// x[i] = e^(x[i]-sub) for n (a multiple of 8) elements, returning their sum.
// The same Cephes reduction and polynomial as expf, eight lanes at a time,
// with n rounded to nearest by VROUNDPS; inputs are clamped to
// [-87.33654, 88.37626] (below, the result is ~1e-38 instead of 0).
TEXT ·expSumAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS sub+16(FP), Y14
	BCAST($0x3fb8aa3b, X13, Y13)  // log2(e) 1.442695041
	BCAST($0x3f318000, X12, Y12)  // C1 0.693359375
	BCAST($0x395e8083, X11, Y11)  // -C2 2.12194440e-4
	BCAST($0x39506967, X10, Y10)  // 1.9875691500e-4
	BCAST($0x3ab743ce, X9, Y9)   // 1.3981999507e-3
	BCAST($0x3c088908, X8, Y8)   // 8.3334519073e-3
	BCAST($0x3d2aa9c1, X7, Y7)   // 4.1665795894e-2
	BCAST($0x3e2aaaaa, X6, Y6)   // 1.6666665459e-1
	BCAST($0x3f000000, X5, Y5)   // 5.0000001201e-1
	BCAST($0x3f800000, X4, Y4)   // 1
	VXORPS       Y0, Y0, Y0

exploop:
	CMPQ CX, $8
	JL   expdone
	VMOVUPS (DI), Y1
	VSUBPS  Y14, Y1, Y1
	BCAST($0xc2aeac4f, X15, Y15)  // -87.33654
	VMAXPS  Y15, Y1, Y1
	BCAST($0x42b0c0a5, X15, Y15)  // 88.37626
	VMINPS  Y15, Y1, Y1

	VMULPS       Y13, Y1, Y2
	VROUNDPS     $0, Y2, Y2          // n, nearest
	VFNMADD231PS Y12, Y2, Y1         // r = x - n*C1
	VFMADD231PS  Y11, Y2, Y1         // r += n*2.12e-4
	VMULPS       Y1, Y1, Y3          // z = r*r

	VMOVAPS      Y10, Y15
	VFMADD213PS  Y9, Y1, Y15         // p = p*r + c
	VFMADD213PS  Y8, Y1, Y15
	VFMADD213PS  Y7, Y1, Y15
	VFMADD213PS  Y6, Y1, Y15
	VFMADD213PS  Y5, Y1, Y15
	VFMADD213PS  Y1, Y3, Y15         // y = p*z + r
	VADDPS       Y4, Y15, Y15        // y += 1

	VCVTPS2DQ Y2, Y2
	BCAST($127, X3, Y3)
	VPADDD    Y3, Y2, Y2
	VPSLLD    $23, Y2, Y2
	VMULPS    Y2, Y15, Y15

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
// SiLUMul eight lanes at a time, e^-a by expSumAVX2's reduction and
// polynomial (so e^-a is clamped as there: a below -88.4 gives a tiny
// value instead of -0).
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ         a+0(FP), DI
	MOVQ         b+8(FP), SI
	MOVQ         n+16(FP), CX
	BCAST($0x3fb8aa3b, X13, Y13)  // log2(e)
	BCAST($0x3f318000, X12, Y12)  // C1
	BCAST($0x395e8083, X11, Y11)  // -C2
	BCAST($0x39506967, X10, Y10)
	BCAST($0x3ab743ce, X9, Y9)
	BCAST($0x3c088908, X8, Y8)
	BCAST($0x3d2aa9c1, X7, Y7)
	BCAST($0x3e2aaaaa, X6, Y6)
	BCAST($0x3f000000, X5, Y5)
	BCAST($0x3f800000, X4, Y4)    // 1
	BCAST($0xc2aeac4f, X14, Y14)  // -87.33654
	BCAST($0x42b0c0a5, X0, Y0)    // 88.37626

siluloop:
	CMPQ    CX, $8
	JL      siludone
	VMOVUPS (DI), Y1
	VXORPS  Y2, Y2, Y2
	VSUBPS  Y1, Y2, Y2               // x = -a
	VMAXPS  Y14, Y2, Y2
	VMINPS  Y0, Y2, Y2

	VMULPS       Y13, Y2, Y3
	VROUNDPS     $0, Y3, Y3          // n, nearest
	VFNMADD231PS Y12, Y3, Y2         // r = x - n*C1
	VFMADD231PS  Y11, Y3, Y2         // r += n*2.12e-4
	VMULPS       Y2, Y2, Y15         // z = r*r

	VMOVAPS      Y10, Y1
	VFMADD213PS  Y9, Y2, Y1
	VFMADD213PS  Y8, Y2, Y1
	VFMADD213PS  Y7, Y2, Y1
	VFMADD213PS  Y6, Y2, Y1
	VFMADD213PS  Y5, Y2, Y1
	VFMADD213PS  Y2, Y15, Y1         // y = p*z + r
	VADDPS       Y4, Y1, Y1          // y += 1

	VCVTPS2DQ Y3, Y3
	MOVL      $127, AX
	VMOVD     AX, X15
	VPBROADCASTD X15, Y15
	VPADDD    Y15, Y3, Y3
	VPSLLD    $23, Y3, Y3
	VMULPS    Y3, Y1, Y1             // e^-a

	VADDPS  Y4, Y1, Y1               // 1 + e^-a
	VMOVUPS (DI), Y2
	VDIVPS  Y1, Y2, Y2               // a / (1 + e^-a)
	VMULPS  (SI), Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     siluloop

siludone:
	VZEROUPPER
	RET
