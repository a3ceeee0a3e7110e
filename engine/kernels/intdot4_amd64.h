// The product of weight rows of a 32-element block type (Q8_0, Q5_0,
// Q4_0) with four activation vectors at once, written once and assembled
// for each type (intdot4_types_amd64.h defines NAME_X4ROWS, BLOCKBYTES and
// X4W, then includes this) in two builds (intdot4_avx2_amd64.s and
// intdot4_vnni_amd64.s define X4DOT). A tile is two rows by four vectors,
// eight accumulators: each weight block is loaded, unpacked and its scale
// converted once for four vectors, each vector's block once for two rows;
// the eight scale products of a block take two multiplications (the four
// vectors' scales are interleaved, 16 bytes a block) and a shuffle each;
// the signed weights are read from memory by the sign instruction (or
// made unsigned, X4UPAIR), so everything else stays in the 16 registers
// AVX2 has. Per
// row and vector the arithmetic is that of dotQ80 (dotQ50, dotQ40) in the
// same order (block sums, the same FMA, the same horizontal sum), so the
// results are bit for bit those of one dot product per row and vector:
// batching a sequence with others never changes its output.

#ifndef X4VEC
// X4SPAIR(ws, absw, p, sel, acc): one row's and one vector's share of a
// block by the sign trick. The vector's quants are in Y12; ws is the
// row's signed weights (memory), absw their magnitudes, and p the
// products of the row's scale with the four vectors' (twice), of which sel
// picks this vector's. As dotQ80's BLOCKSCALE and DOTI8: acc += (dw·dx) ·
// float(Σ |w|·(x with w's sign)). Clobbers Y14 and Y15.
#define X4SPAIR(ws, absw, p, sel, acc) \
	VPSIGNB     ws, Y12, Y14 \
	X4DOT(Y14, absw, Y15) \
	X4SCALE(p, sel, acc)

// X4UPAIR(c, u, p, sel, acc): the same with the weights made unsigned (u,
// the weights plus a constant k) and the vector's Σ -k·x per lane
// precomputed (c, memory): the lanes are the same integers, Σ w·x over
// four bytes, without a sign instruction per row and vector.
#define X4UPAIR(c, u, p, sel, acc) \
	X4UDOT(Y12, u, c, Y15) \
	X4SCALE(p, sel, acc)

#define X4SCALE(p, sel, acc) \
	VCVTDQ2PS   Y15, Y15 \
	VSHUFPS     sel, p, p, Y14 \
	VFMADD231PS Y15, Y14, acc

// X4VEC(q, c, sel, acc0, acc1): one vector's share of both rows' blocks;
// X4PAIR is X4SPAIR or X4UPAIR, as the block type defines it.
#define X4VEC(q, c, sel, acc0, acc1) \
	VMOVDQU (q)(BX*1), Y12 \
	X4PAIR(X4WS0, (c)(BX*1), Y8, Y10, sel, acc0) \
	X4PAIR(X4WS1, (c)(BX*1), Y9, Y11, sel, acc1)

// X4HSUM(ya, yb, yc, yd, a, b, c, d): a = the four accumulators'
// horizontal sums (a-d are ya-yd's lower halves), each as the one-vector
// kernels add their lanes. Clobbers Y15.
#define X4HSUM(ya, yb, yc, yd, a, b, c, d) \
	VEXTRACTF128 $1, ya, X15 \
	VADDPS       X15, a, a \
	VEXTRACTF128 $1, yb, X15 \
	VADDPS       X15, b, b \
	VEXTRACTF128 $1, yc, X15 \
	VADDPS       X15, c, c \
	VEXTRACTF128 $1, yd, X15 \
	VADDPS       X15, d, d \
	VHADDPS      b, a, a \
	VHADDPS      d, c, c \
	VHADDPS      c, a, a

// X4ROWPAIR: the pair of rows at 0(SP), SI and R14; R14 is SI again when
// one row is left (16(SP)), so an odd last row is paired with itself.
#define X4ROWPAIR \
	MOVQ    0(SP), SI \
	MOVQ    rowBytes+8(FP), R14 \
	ADDQ    SI, R14 \
	CMPQ    16(SP), $1 \
	CMOVQEQ SI, R14

// X4PAIRNEXT: past the pair stored at AX, to the next pair of rows.
#define X4PAIRNEXT \
	ADDQ $4, AX \
	MOVQ AX, 8(SP) \
	MOVQ rowBytes+8(FP), AX \
	SHLQ $1, AX \
	ADDQ AX, 0(SP) \
	SUBQ $2, 16(SP)

// X4STORE(x, p): x's four lanes to (p), (p)+BX, (p)+2BX, (p)+3BX.
#define X4STORE(x, p) \
	VMOVSS     x, (p) \
	VEXTRACTPS $1, x, (p)(BX*1) \
	LEAQ       (p)(BX*2), CX \
	VEXTRACTPS $2, x, (CX) \
	VEXTRACTPS $3, x, (CX)(BX*1)
#endif

// func dotQ80x4Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, corr *int32, nb, qstride int, dst *float32, dstStride int)
// Each of nrows consecutive rows (rowBytes apart) against four vectors
// (quants qstride bytes apart; scales interleaved, d4[4b+k] vector k's of
// block b; for X4UPAIR the lanes' corrections, laid out as the quants),
// writing row r's four results to dst[r], dst[r+dstStride],
// dst[r+2·dstStride] and dst[r+3·dstStride]: one call for a tile of rows.
// Rows go in pairs; an odd last row is paired with itself, and its results
// written twice. The frame holds the current row (0(SP)), output (8(SP)),
// rows left (16(SP)), the two rows' unpacked signed weights (24(SP),
// 56(SP)) and the quants' bytes per vector (88(SP)). Each block prefetches
// the next pair's: a pair's two rows are two interleaved streams that
// jump at each pair, which the hardware prefetcher loses, and a product
// with few vectors (batched decode) waits on memory.
TEXT NAME_X4ROWS, NOSPLIT, $96-80
	MOVQ row+0(FP), AX
	MOVQ AX, 0(SP)
	MOVQ dst+64(FP), AX
	MOVQ AX, 8(SP)
	MOVQ nrows+16(FP), AX
	MOVQ AX, 16(SP)
	MOVQ nb+48(FP), AX
	SHLQ $5, AX
	MOVQ AX, 88(SP)

x4rowsrow:
	CMPQ 16(SP), $0
	JLE  x4rowsdone
	X4ROWPAIR
	MOVQ   d4+24(FP), DX
	MOVQ   qs+32(FP), DI
	MOVQ   corr+40(FP), R9
	MOVQ   rowBytes+8(FP), CX
	MOVQ   qstride+56(FP), AX
	LEAQ   (DI)(AX*1), R8
	LEAQ   (R8)(AX*1), R10
	LEAQ   (R10)(AX*1), R11
	LEAQ   (R9)(AX*1), R12
	LEAQ   (R12)(AX*1), R13
	LEAQ   (R13)(AX*1), AX
	XORQ   BX, BX
	X4ZERO8

x4rowsloop:
	CMPQ           BX, 88(SP)
	JEQ            x4rowssum
	PREFETCHT0     (R14)(CX*1)
	PREFETCHT0     (R14)(CX*2)
	X4W(SI, Y8, 24(SP))
	X4W(R14, Y9, 56(SP))
	VCVTPH2PS      (SI), X10
	VBROADCASTSS   X10, Y10
	VCVTPH2PS      (R14), X11
	VBROADCASTSS   X11, Y11
	VBROADCASTF128 (DX), Y13
	VMULPS         Y13, Y10, Y10
	VMULPS         Y13, Y11, Y11
	X4VEC(DI, R9, $0x00, Y0, Y4)
	X4VEC(R8, R12, $0x55, Y1, Y5)
	X4VEC(R10, R13, $0xaa, Y2, Y6)
	X4VEC(R11, AX, $0xff, Y3, Y7)
	ADDQ           BLOCKBYTES, SI
	ADDQ           BLOCKBYTES, R14
	ADDQ           $32, BX
	ADDQ           $16, DX
	JMP            x4rowsloop

x4rowssum:
	X4HSUM(Y0, Y1, Y2, Y3, X0, X1, X2, X3)
	X4HSUM(Y4, Y5, Y6, Y7, X4, X5, X6, X7)
	MOVQ 8(SP), AX
	MOVQ dstStride+72(FP), BX
	SHLQ $2, BX
	X4STORE(X0, AX)
	CMPQ 16(SP), $1
	JE   x4rowslast
	ADDQ $4, AX

x4rowslast:
	X4STORE(X4, AX)
	X4PAIRNEXT
	JMP  x4rowsrow

x4rowsdone:
	VZEROUPPER
	RET
