#include "textflag.h"

// Activation quantization to 8-bit blocks of 32 (quantizeQ8Go in dot.go),
// eight lanes at a time. Every step is the same IEEE single operation as
// the Go code's, so the results are identical bit for bit: amax/127,
// 127/amax (0 for a block of zeros or near-zeros), x*id, and rounding half away from
// zero as truncation of t + copysign(0.5, t).

// Dword order after two VPACKSSDW and a VPACKSSWB within 128-bit lanes.
DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

#define SPLAT(c, reg) \
	MOVL         c, AX \
	VMOVD        AX, X8 \
	VPBROADCASTD X8, reg

// QCONSTS: the quantizers' constants.
#define QCONSTS \
	SPLAT($0x7fffffff, Y15) \
	SPLAT($0x80000000, Y14) \
	SPLAT($0x3f000000, Y13) /* 0.5 */ \
	SPLAT($0x42fe0000, Y12) /* 127 */ \
	VMOVDQU q8perm<>(SB), Y11 \
	SPLAT($0x03800000, Y10) /* 2^-120 */

// QAMAX: the largest of Y4's lanes in every lane of X4; clobbers X5.
#define QAMAX \
	VEXTRACTF128 $1, Y4, X5 \
	VMAXPS       X5, X4, X4 \
	VPERMILPS    $0x4e, X4, X5 \
	VMAXPS       X5, X4, X4 \
	VPERMILPS    $0xb1, X4, X5 \
	VMAXPS       X5, X4, X4

// QROUND: Y0-Y3 (x*id) rounded half away from zero, to int32; clobbers
// Y4-Y7.
#define QROUND \
	VANDPS     Y14, Y0, Y4 \
	VANDPS     Y14, Y1, Y5 \
	VANDPS     Y14, Y2, Y6 \
	VANDPS     Y14, Y3, Y7 \
	VORPS      Y13, Y4, Y4 \
	VORPS      Y13, Y5, Y5 \
	VORPS      Y13, Y6, Y6 \
	VORPS      Y13, Y7, Y7 \
	VADDPS     Y4, Y0, Y0 \
	VADDPS     Y5, Y1, Y1 \
	VADDPS     Y6, Y2, Y2 \
	VADDPS     Y7, Y3, Y3 \
	VCVTTPS2DQ Y0, Y0 \
	VCVTTPS2DQ Y1, Y1 \
	VCVTTPS2DQ Y2, Y2 \
	VCVTTPS2DQ Y3, Y3

// QPACK: the 32 int32 of Y0-Y3 packed to bytes at (DI) (values are
// within ±127: nothing saturates).
#define QPACK \
	VPACKSSDW Y1, Y0, Y0 \
	VPACKSSDW Y3, Y2, Y2 \
	VPACKSSWB Y2, Y0, Y0 \
	VPERMD    Y0, Y11, Y0 \
	VMOVDQU   Y0, (DI)

// func quantizeQ8AVX2(d *float32, qs *int8, sum *int32, x *float32, nb int)
TEXT ·quantizeQ8AVX2(SB), NOSPLIT, $0-40
	MOVQ    d+0(FP), DX
	MOVQ    qs+8(FP), DI
	MOVQ    sum+16(FP), BX
	MOVQ    x+24(FP), SI
	MOVQ    nb+32(FP), CX
	QCONSTS

qloop:
	TESTQ   CX, CX
	JZ      qdone
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3

	// amax into every lane of X4.
	VANDPS       Y15, Y0, Y4
	VANDPS       Y15, Y1, Y5
	VANDPS       Y15, Y2, Y6
	VANDPS       Y15, Y3, Y7
	VMAXPS       Y5, Y4, Y4
	VMAXPS       Y7, Y6, Y6
	VMAXPS       Y6, Y4, Y4
	QAMAX

	// d = amax/127; id = 127/amax, or 0 when amax < 2^-120 (where 127/amax
	// would overflow).
	VDIVSS       X12, X4, X5
	VMOVSS       X5, (DX)
	VDIVSS       X4, X12, X6
	VCMPSS       $13, X10, X4, X7
	VANDPS       X7, X6, X6
	VBROADCASTSS X6, Y6

	// t = x*id, rounded half away from zero, to int32.
	VMULPS     Y6, Y0, Y0
	VMULPS     Y6, Y1, Y1
	VMULPS     Y6, Y2, Y2
	VMULPS     Y6, Y3, Y3
	QROUND

	// The block's sum.
	VPADDD       Y1, Y0, Y4
	VPADDD       Y3, Y2, Y5
	VPADDD       Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	VMOVD        X4, (BX)

	// Pack to bytes (values are within ±127: nothing saturates).
	QPACK

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, BX
	DECQ CX
	JMP  qloop

qdone:
	VZEROUPPER
	RET

// KABSMAX(off): Y4 = max(Y4, |x| at off(SI) … off+127(SI)), by Y0-Y3.
#define KABSMAX(off) \
	VANDPS off(SI), Y15, Y0 \
	VANDPS off+32(SI), Y15, Y1 \
	VANDPS off+64(SI), Y15, Y2 \
	VANDPS off+96(SI), Y15, Y3 \
	VMAXPS Y1, Y0, Y0 \
	VMAXPS Y3, Y2, Y2 \
	VMAXPS Y2, Y0, Y0 \
	VMAXPS Y0, Y4, Y4

// func quantizeQ8KAVX2(d *float32, qs *int8, bs *int16, x *float32, nsb int)
// Activation quantization to super-blocks of 256 (quantizeQ8KGo): the
// steps of quantizeQ8AVX2 with one amax, d and id per 256 values, and the
// quants' sums over each 16, as int16.
TEXT ·quantizeQ8KAVX2(SB), NOSPLIT, $0-40
	MOVQ    d+0(FP), DX
	MOVQ    qs+8(FP), DI
	MOVQ    bs+16(FP), BX
	MOVQ    x+24(FP), SI
	MOVQ    nsb+32(FP), CX
	QCONSTS

kqloop:
	TESTQ  CX, CX
	JZ     kqdone
	VXORPS Y4, Y4, Y4
	KABSMAX(0)
	KABSMAX(128)
	KABSMAX(256)
	KABSMAX(384)
	KABSMAX(512)
	KABSMAX(640)
	KABSMAX(768)
	KABSMAX(896)
	QAMAX

	// d = amax/127; id = 127/amax, or 0 when amax < 2^-120.
	VDIVSS       X12, X4, X5
	VMOVSS       X5, (DX)
	VDIVSS       X4, X12, X9
	VCMPSS       $13, X10, X4, X7
	VANDPS       X7, X9, X9
	VBROADCASTSS X9, Y9
	MOVQ         $8, R8

kqchunk:
	// t = x*id, rounded half away from zero, to int32.
	VMULPS     (SI), Y9, Y0
	VMULPS     32(SI), Y9, Y1
	VMULPS     64(SI), Y9, Y2
	VMULPS     96(SI), Y9, Y3
	QROUND

	// The sums of the chunk's two sixteens: lanes of Y4 (elements 0-15)
	// and Y5 (16-31) folded to one int32 each, then to int16.
	VPADDD       Y1, Y0, Y4
	VPADDD       Y3, Y2, Y5
	VPHADDD      Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPHADDD      X4, X4, X4
	VPACKSSDW    X4, X4, X4
	VMOVD        X4, (BX)

	// Pack to bytes (values are within ±127: nothing saturates).
	QPACK

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, BX
	DECQ R8
	JNZ  kqchunk
	ADDQ $4, DX
	DECQ CX
	JMP  kqloop

kqdone:
	VZEROUPPER
	RET
