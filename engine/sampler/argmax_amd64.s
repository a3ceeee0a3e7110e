#include "textflag.h"

// func maxAVX2(x *float32, n int) (m float32, nan bool)
// Four lanes of eight maxima, and four of NaN marks (unordered compares
// of each value with itself), over 32 values a step; n is a positive
// multiple of 32.
TEXT ·maxAVX2(SB), NOSPLIT, $0-21
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VCMPPS  $3, Y0, Y0, Y4
	VCMPPS  $3, Y1, Y1, Y5
	VCMPPS  $3, Y2, Y2, Y6
	VCMPPS  $3, Y3, Y3, Y7
	MOVQ    $32, AX

maxloop:
	CMPQ    AX, CX
	JAE     maxdone
	VMOVUPS (SI)(AX*4), Y8
	VMOVUPS 32(SI)(AX*4), Y9
	VMOVUPS 64(SI)(AX*4), Y10
	VMOVUPS 96(SI)(AX*4), Y11
	VMAXPS  Y8, Y0, Y0
	VMAXPS  Y9, Y1, Y1
	VMAXPS  Y10, Y2, Y2
	VMAXPS  Y11, Y3, Y3
	VCMPPS  $3, Y8, Y8, Y8
	VCMPPS  $3, Y9, Y9, Y9
	VCMPPS  $3, Y10, Y10, Y10
	VCMPPS  $3, Y11, Y11, Y11
	VORPS   Y8, Y4, Y4
	VORPS   Y9, Y5, Y5
	VORPS   Y10, Y6, Y6
	VORPS   Y11, Y7, Y7
	ADDQ    $32, AX
	JMP     maxloop

maxdone:
	VMAXPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VMAXPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSS       X0, m+16(FP)
	VORPS        Y5, Y4, Y4
	VORPS        Y7, Y6, Y6
	VORPS        Y6, Y4, Y4
	VMOVMSKPS    Y4, AX
	TESTL        AX, AX
	SETNE        nan+20(FP)
	VZEROUPPER
	RET

// func firstEqualAVX2(x *float32, n int, m float32) int
TEXT ·firstEqualAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y0
	XORQ         AX, AX

eqloop:
	CMPQ      AX, CX
	JAE       eqdone
	VCMPPS    $0, (SI)(AX*4), Y0, Y1
	VMOVMSKPS Y1, DX
	TESTL     DX, DX
	JNZ       eqfound
	ADDQ      $8, AX
	JMP       eqloop

eqfound:
	BSFL DX, DX
	ADDQ DX, AX

eqdone:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
