// The product of weight rows of a 32-element block type (Q8_0, Q5_0,
// Q4_0) with four activation vectors at once, written once and assembled
// for each type (intdot4_types_amd64.h defines NAME_X4ROWS, BLOCKBYTES,
// X4CONSTS and X4LOADW, then includes this) in two builds
// (intdot4_avx2_amd64.s and intdot4_vnni_amd64.s define I8SETUP and I8DOT,
// as for intdot_amd64.h). Each weight block is loaded, its scale converted and
// its magnitudes taken once for the four vectors, and the four
// accumulators are independent chains. Per vector the arithmetic is that
// of dotQ80 (dotQ50, dotQ40) in the same order (block sums, the same FMA, the same
// horizontal sum), so the results are bit for bit those of four dotQ80
// calls (dotQ50's, dotQ40's): batching a sequence with others never
// changes its output.

// func dotQ80x4Rows(row *byte, rowBytes, nrows int, d *float32, qs *int8, nb, qstride, dstride int, dst *float32, dstStride int)
// Each of nrows consecutive rows (rowBytes apart) against four vectors
// (quants qstride bytes apart, scales dstride bytes apart), writing row r's
// four results to dst[r], dst[r+dstStride], dst[r+2·dstStride] and
// dst[r+3·dstStride]: one call for a tile of rows. The frame holds the
// current row (0(SP)), output (8(SP)) and rows left (16(SP)).
TEXT NAME_X4ROWS, NOSPLIT, $24-80
	MOVQ row+0(FP), AX
	MOVQ AX, 0(SP)
	MOVQ dst+64(FP), AX
	MOVQ AX, 8(SP)
	MOVQ nrows+16(FP), AX
	MOVQ AX, 16(SP)

x4rowsrow:
	CMPQ   16(SP), $0
	JLE    x4rowsdone
	MOVQ   0(SP), SI
	MOVQ   d+24(FP), DX
	MOVQ   qs+32(FP), DI
	MOVQ   nb+40(FP), CX
	MOVQ   qstride+48(FP), AX
	MOVQ   dstride+56(FP), BX
	LEAQ   (DI)(AX*1), R8
	LEAQ   (R8)(AX*1), R10
	LEAQ   (R10)(AX*1), R11
	LEAQ   (DX)(BX*1), R9
	LEAQ   (R9)(BX*1), R12
	LEAQ   (R12)(BX*1), R13
	I8SETUP
	X4CONSTS
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

x4rowsloop:
	TESTQ     CX, CX
	JZ        x4rowssum
	MOVWLZX   (SI), AX
	VMOVD     AX, X6
	VCVTPH2PS X6, X6
	X4LOADW
	VPSIGNB   Y4, Y4, Y5
	ONE(DI, DX, Y0)
	ONE(R8, R9, Y1)
	ONE(R10, R12, Y2)
	ONE(R11, R13, Y3)
	ADDQ      BLOCKBYTES, SI
	ADDQ      $32, DI
	ADDQ      $32, R8
	ADDQ      $32, R10
	ADDQ      $32, R11
	ADDQ      $4, DX
	ADDQ      $4, R9
	ADDQ      $4, R12
	ADDQ      $4, R13
	DECQ      CX
	JMP       x4rowsloop

x4rowssum:
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
	MOVQ         8(SP), AX
	MOVQ         dstStride+72(FP), BX
	SHLQ         $2, BX
	VMOVSS       X0, (AX)
	VEXTRACTPS   $1, X0, (AX)(BX*1)
	LEAQ         (AX)(BX*2), CX
	VEXTRACTPS   $2, X0, (CX)
	VEXTRACTPS   $3, X0, (CX)(BX*1)
	ADDQ         $4, AX
	MOVQ         AX, 8(SP)
	MOVQ         rowBytes+8(FP), AX
	ADDQ         AX, 0(SP)
	DECQ         16(SP)
	JMP          x4rowsrow

x4rowsdone:
	VZEROUPPER
	RET
