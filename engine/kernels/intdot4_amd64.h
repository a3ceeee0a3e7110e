// The Q8_0 product of one weight row with four activation vectors at once,
// written once and assembled twice (intdot4_avx2_amd64.s and
// intdot4_vnni_amd64.s define I8SETUP, I8DOT and NAME_Q80X4, as for
// intdot_amd64.h). Each weight block is loaded, its scale converted and
// its magnitudes taken once for the four vectors, and the four
// accumulators are independent chains. Per vector the arithmetic is that
// of dotQ80 in the same order (block sums, the same FMA, the same
// horizontal sum), so the results are bit for bit those of four dotQ80
// calls: batching a sequence with others never changes its output.

// func dotQ80x4(row *byte, d *float32, qs *int8, nb, qstride, dstride int, out *[4]float32)
TEXT NAME_Q80X4, NOSPLIT, $0-56
	MOVQ   row+0(FP), SI
	MOVQ   d+8(FP), DX
	MOVQ   qs+16(FP), DI
	MOVQ   nb+24(FP), CX
	MOVQ   qstride+32(FP), AX
	MOVQ   dstride+40(FP), BX
	LEAQ   (DI)(AX*1), R8
	LEAQ   (R8)(AX*1), R10
	LEAQ   (R10)(AX*1), R11
	LEAQ   (DX)(BX*1), R9
	LEAQ   (R9)(BX*1), R12
	LEAQ   (R12)(BX*1), R13
	I8SETUP
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

q80x4loop:
	TESTQ     CX, CX
	JZ        q80x4done
	MOVWLZX   (SI), AX
	VMOVD     AX, X6
	VCVTPH2PS X6, X6
	VMOVDQU   2(SI), Y4
	VPSIGNB   Y4, Y4, Y5
	ONE(DI, DX, Y0)
	ONE(R8, R9, Y1)
	ONE(R10, R12, Y2)
	ONE(R11, R13, Y3)
	ADDQ      $34, SI
	ADDQ      $32, DI
	ADDQ      $32, R8
	ADDQ      $32, R10
	ADDQ      $32, R11
	ADDQ      $4, DX
	ADDQ      $4, R9
	ADDQ      $4, R12
	ADDQ      $4, R13
	DECQ      CX
	JMP       q80x4loop

q80x4done:
	// dotQ80's HSUM for each accumulator: fold the high half onto the
	// low, then two pairwise adds, here shared by the four vectors.
	VEXTRACTF128 $1, Y0, X7
	VADDPS       X7, X0, X0
	VEXTRACTF128 $1, Y1, X7
	VADDPS       X7, X1, X1
	VEXTRACTF128 $1, Y2, X7
	VADDPS       X7, X2, X2
	VEXTRACTF128 $1, Y3, X7
	VADDPS       X7, X3, X3
	VHADDPS      X1, X0, X0
	VHADDPS      X3, X2, X2
	VHADDPS      X2, X0, X0
	MOVQ         out+48(FP), AX
	VMOVUPS      X0, (AX)
	VZEROUPPER
	RET
