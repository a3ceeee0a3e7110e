#include "textflag.h"

// dotQ80x4Rows, dotQ50x4Rows and dotQ40x4Rows with AVX2's VPMADDUBSW and VPMADDWD (see intdot4_amd64.h),
// the eight-vector tiles, and the K-quant kernels of intq6k_amd64.h and
// intq4k_amd64.h.

#define I8SETUP \
	MOVL         $0x00010001, AX \
	VMOVD        AX, X15 \
	VPBROADCASTD X15, Y15

#define I8DOT(x, u, dst) \
	VPMADDUBSW x, u, dst \
	VPMADDWD   Y15, dst, dst

// X4DOT: the tiles' integer dot, with the constant of VPMADDWD in memory
// (x4ones, intdot4_types_amd64.h; intdot4_amd64.h uses all 16 registers).

#define X4DOT(x, u, dst) \
	VPMADDUBSW x, u, dst \
	VPMADDWD   X4ONES, dst, dst

#define X4ONES x4ones<>(SB)

#define X4UDOT(x, u, c, dst) \
	X4DOT(x, u, dst) \
	VPADDD c, dst, dst

#define NAME_Q80X4ROWS ·dotQ80x4RowsAVX2(SB)
#define NAME_Q50X4ROWS ·dotQ50x4RowsAVX2(SB)
#define NAME_Q40X4ROWS ·dotQ40x4RowsAVX2(SB)
#define NAME_Q4KX4ROWS ·dotQ4Kx4RowsAVX2(SB)
#define NAME_Q6K ·dotQ6KAVX2(SB)
#define NAME_Q4K ·dotQ4KAVX2(SB)
#define NAME_Q5K ·dotQ5KAVX2(SB)
#define NAME_Q6KX4ROWS ·dotQ6Kx4RowsAVX2(SB)
#define NAME_Q6KX8ROWS ·dotQ6Kx8RowsAVX2(SB)
#define NAME_Q4KX8ROWS ·dotQ4Kx8RowsAVX2(SB)
#define NAME_Q80X8ROWS ·dotQ80x8RowsAVX2(SB)
#define NAME_Q50X8ROWS ·dotQ50x8RowsAVX2(SB)
#define NAME_Q40X8ROWS ·dotQ40x8RowsAVX2(SB)

#include "intdot4_types_amd64.h"
#include "intq6k_amd64.h"
#include "intq4k_amd64.h"

// func x4corrAVX2(qs *int8, nb, shift int, c *int32)
// For each of nb blocks of 32 quants, the sums of its four-byte groups
// times -(1<<shift) (eight int32 lanes, 32 bytes a block, as the quants):
// the corrections X4UPAIR adds for weights taken as w + 1<<shift (16 for
// Q5_0, 128 for Q8_0).
TEXT ·x4corrAVX2(SB), NOSPLIT, $0-32
	MOVQ         qs+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         shift+16(FP), X5
	MOVQ         c+24(FP), DI
	MOVL         $0x01010101, AX
	VMOVD        AX, X2
	VPBROADCASTD X2, Y2
	VPXOR        Y3, Y3, Y3

x4corrloop:
	TESTQ      CX, CX
	JZ         x4corrdone
	VMOVDQU    (SI), Y0
	VPMADDUBSW Y0, Y2, Y1
	VPMADDWD   x4ones<>(SB), Y1, Y1
	VPSLLD     X5, Y1, Y4
	VPSUBD     Y4, Y3, Y4
	VMOVDQU    Y4, (DI)
	ADDQ       $32, SI
	ADDQ       $32, DI
	DECQ       CX
	JMP        x4corrloop

x4corrdone:
	VZEROUPPER
	RET
