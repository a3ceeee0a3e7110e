#include "textflag.h"

// AVX-512 f32 kernels: the same products as dotF32AVX2/dotF32x4AVX2 with
// 16-float vectors, which halves the instructions per weight of the batched
// (compute-bound) product. Tails of 8 use a masked load (K1 = low 8 lanes),
// never a VEX ymm op, which would clear the upper halves of the accumulators.

// Reduce Z0 to Y0 (clobbers Y10).
#define ZTOY(z, y) \
	VEXTRACTF32X8 $1, z, Y10 \
	VADDPS        Y10, y, y

// func dotF32AVX512(a, b *float32, n int) float32
// n must be a multiple of 8.
TEXT ·dotF32AVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3

z1loop64:
	CMPQ        CX, $64
	JL          z1loop16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         z1loop64

z1loop16:
	CMPQ        CX, $16
	JL          z1tail
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         z1loop16

z1tail:
	CMPQ        CX, $8
	JL          z1done
	MOVL        $0xff, AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

z1done:
	VADDPS       Z1, Z0, Z0
	VADDPS       Z3, Z2, Z2
	VADDPS       Z2, Z0, Z0
	ZTOY(Z0, Y0)
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func dotF32x4AVX512(row, x *float32, stride, n int, out *[4]float32)
// n must be a multiple of 8.
TEXT ·dotF32x4AVX512(SB), NOSPLIT, $0-40
	MOVQ   row+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   stride+16(FP), R8
	MOVQ   n+24(FP), CX
	SHLQ   $2, R8
	LEAQ   (DI)(R8*1), R9
	LEAQ   (R9)(R8*1), R10
	LEAQ   (R10)(R8*1), R11
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7

z4loop32:
	CMPQ        CX, $32
	JL          z4loop16
	// One stream's single-vector product (matF32FewAsm) passes four
	// consecutive weight rows here as the "vectors": it is bound by memory,
	// and each of the four read pointers jumps 3 rows ahead at the next
	// call, which the hardware prefetcher does not foresee. So fetch the
	// same columns of the next four rows (4*stride on) while these are
	// being multiplied. In the batched use the targets are the next
	// activation vectors, already cached; a prefetch never faults.
	PREFETCHT0  (DI)(R8*4)
	PREFETCHT0  64(DI)(R8*4)
	PREFETCHT0  (R9)(R8*4)
	PREFETCHT0  64(R9)(R8*4)
	PREFETCHT0  (R10)(R8*4)
	PREFETCHT0  64(R10)(R8*4)
	PREFETCHT0  (R11)(R8*4)
	PREFETCHT0  64(R11)(R8*4)
	VMOVUPS     (SI), Z8
	VMOVUPS     64(SI), Z9
	VFMADD231PS (DI), Z8, Z0
	VFMADD231PS 64(DI), Z9, Z4
	VFMADD231PS (R9), Z8, Z1
	VFMADD231PS 64(R9), Z9, Z5
	VFMADD231PS (R10), Z8, Z2
	VFMADD231PS 64(R10), Z9, Z6
	VFMADD231PS (R11), Z8, Z3
	VFMADD231PS 64(R11), Z9, Z7
	ADDQ        $128, SI
	ADDQ        $128, DI
	ADDQ        $128, R9
	ADDQ        $128, R10
	ADDQ        $128, R11
	SUBQ        $32, CX
	JMP         z4loop32

z4loop16:
	CMPQ        CX, $16
	JL          z4tail
	VMOVUPS     (SI), Z8
	VFMADD231PS (DI), Z8, Z0
	VFMADD231PS (R9), Z8, Z1
	VFMADD231PS (R10), Z8, Z2
	VFMADD231PS (R11), Z8, Z3
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, R9
	ADDQ        $64, R10
	ADDQ        $64, R11
	SUBQ        $16, CX

z4tail:
	CMPQ        CX, $8
	JL          z4done
	MOVL        $0xff, AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z8
	VMOVUPS.Z   (DI), K1, Z9
	VFMADD231PS Z9, Z8, Z4
	VMOVUPS.Z   (R9), K1, Z9
	VFMADD231PS Z9, Z8, Z5
	VMOVUPS.Z   (R10), K1, Z9
	VFMADD231PS Z9, Z8, Z6
	VMOVUPS.Z   (R11), K1, Z9
	VFMADD231PS Z9, Z8, Z7

z4done:
	VADDPS       Z4, Z0, Z0
	VADDPS       Z5, Z1, Z1
	VADDPS       Z6, Z2, Z2
	VADDPS       Z7, Z3, Z3
	ZTOY(Z0, Y0)
	ZTOY(Z1, Y1)
	ZTOY(Z2, Y2)
	ZTOY(Z3, Y3)
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	MOVQ         out+32(FP), AX
	VMOVUPS      X0, (AX)
	VZEROUPPER
	RET

// func axpyAVX2(y, x *float32, a float32, n int)
// y[i] += a*x[i] for n (a multiple of 8) elements.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	VBROADCASTSS a+16(FP), Y0
	MOVQ         n+24(FP), CX

axloop:
	CMPQ        CX, $8
	JL          axdone
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         axloop

axdone:
	VZEROUPPER
	RET
