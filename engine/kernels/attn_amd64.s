#include "textflag.h"

// The axpyRows kernels' arguments: y in DI, a in DX, rows in SI, the row
// stride in bytes in R8, the row count in CX.
#define AXPYARGS \
	MOVQ y+0(FP), DI \
	MOVQ a+8(FP), DX \
	MOVQ rows+16(FP), SI \
	MOVQ stride+24(FP), R8 \
	MOVQ n+32(FP), CX \
	SHLQ $2, R8

// AXPYNEXT moves to the next weight and row, and counts it.
#define AXPYNEXT \
	ADDQ $4, DX \
	ADDQ R8, SI \
	DECQ CX

// func axpyRows32AVX2(y, a, rows *float32, stride, n int)
// y[0:32] += Σ_t a[t]·rows[t*stride : t*stride+32], t from 0 to n-1 in
// order, y kept in Y0-Y3 throughout.
TEXT ·axpyRows32AVX2(SB), NOSPLIT, $0-40
	AXPYARGS
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3

rows32loop:
	TESTQ        CX, CX
	JZ           rows32done
	VBROADCASTSS (DX), Y8
	VFMADD231PS  (SI), Y8, Y0
	VFMADD231PS  32(SI), Y8, Y1
	VFMADD231PS  64(SI), Y8, Y2
	VFMADD231PS  96(SI), Y8, Y3
	AXPYNEXT
	JMP          rows32loop

rows32done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

// func axpyRows8AVX2(y, a, rows *float32, stride, n int)
// As axpyRows32AVX2 for 8 columns.
TEXT ·axpyRows8AVX2(SB), NOSPLIT, $0-40
	AXPYARGS
	VMOVUPS (DI), Y0

rows8loop:
	TESTQ        CX, CX
	JZ           rows8done
	VBROADCASTSS (DX), Y8
	VFMADD231PS  (SI), Y8, Y0
	AXPYNEXT
	JMP          rows8loop

rows8done:
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// func axpyRows48AVX2(y, a, rows *float32, stride, n int)
// As axpyRows32AVX2 for 48 columns (stories15M's heads), y in Y0-Y5: one
// pass over the rows, six independent FMA chains, instead of a 32-column
// pass and two 8-column ones whose single chain waits on the FMA's
// latency at every row.
TEXT ·axpyRows48AVX2(SB), NOSPLIT, $0-40
	AXPYARGS
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5

rows48loop:
	TESTQ        CX, CX
	JZ           rows48done
	VBROADCASTSS (DX), Y8
	VFMADD231PS  (SI), Y8, Y0
	VFMADD231PS  32(SI), Y8, Y1
	VFMADD231PS  64(SI), Y8, Y2
	VFMADD231PS  96(SI), Y8, Y3
	VFMADD231PS  128(SI), Y8, Y4
	VFMADD231PS  160(SI), Y8, Y5
	AXPYNEXT
	JMP          rows48loop

rows48done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VZEROUPPER
	RET

// func prefetchT1(p *float32, n int)
// Asks for the cache lines of p[0:n] in L2, one PREFETCHT1 per line; a
// prefetch never faults, so the last line may run past the slice.
TEXT ·prefetchT1(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ (SI)(CX*4), CX

prefetchloop:
	CMPQ       SI, CX
	JAE        prefetchdone
	PREFETCHT1 (SI)
	ADDQ       $64, SI
	JMP        prefetchloop

prefetchdone:
	RET

// func scaleMaxAVX2(x *float32, n int, s float32) float32
// Multiplies x[0:n] by s in place (n a positive multiple of 8) and returns
// the largest product.
TEXT ·scaleMaxAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS s+16(FP), Y0
	VMULPS       (SI), Y0, Y1
	VMOVUPS      Y1, (SI)
	MOVQ         $8, AX

scalemaxloop:
	CMPQ    AX, CX
	JAE     scalemaxdone
	VMULPS  (SI)(AX*4), Y0, Y2
	VMOVUPS Y2, (SI)(AX*4)
	VMAXPS  Y2, Y1, Y1
	ADDQ    $8, AX
	JMP     scalemaxloop

scalemaxdone:
	VEXTRACTF128 $1, Y1, X2
	VMAXPS       X2, X1, X1
	VPERMILPS    $0x4e, X1, X2
	VMAXPS       X2, X1, X1
	VPERMILPS    $0xb1, X1, X2
	VMAXPS       X2, X1, X1
	VMOVSS       X1, ret+24(FP)
	VZEROUPPER
	RET

// func scaleAVX2(x *float32, n int, s float32)
// Multiplies x[0:n] by s in place (n a multiple of 8).
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS s+16(FP), Y0
	XORQ         AX, AX

scaleloop:
	CMPQ    AX, CX
	JAE     scaledone
	VMULPS  (SI)(AX*4), Y0, Y2
	VMOVUPS Y2, (SI)(AX*4)
	ADDQ    $8, AX
	JMP     scaleloop

scaledone:
	VZEROUPPER
	RET
