#include "textflag.h"

// dotQ80x4Rows, dotQ50x4Rows and dotQ40x4Rows with AVX2's VPMADDUBSW and VPMADDWD (see intdot4_amd64.h).

#define I8SETUP \
	MOVL         $0x00010001, AX \
	VMOVD        AX, X15 \
	VPBROADCASTD X15, Y15

#define I8DOT(x, u, dst) \
	VPMADDUBSW x, u, dst \
	VPMADDWD   Y15, dst, dst

// X4DOT: the 32-element tiles' integer dot, with the constant
// of VPMADDWD in memory (intdot4_amd64.h uses all 16 registers).
DATA x4ones<>+0(SB)/8, $0x0001000100010001
DATA x4ones<>+8(SB)/8, $0x0001000100010001
DATA x4ones<>+16(SB)/8, $0x0001000100010001
DATA x4ones<>+24(SB)/8, $0x0001000100010001
GLOBL x4ones<>(SB), RODATA|NOPTR, $32

#define X4DOT(x, u, dst) \
	VPMADDUBSW x, u, dst \
	VPMADDWD   x4ones<>(SB), dst, dst

#define NAME_Q80X4ROWS ·dotQ80x4RowsAVX2(SB)
#define NAME_Q50X4ROWS ·dotQ50x4RowsAVX2(SB)
#define NAME_Q40X4ROWS ·dotQ40x4RowsAVX2(SB)
#define NAME_Q4KX4ROWS ·dotQ4Kx4RowsAVX2(SB)
#define NAME_Q6KX4ROWS ·dotQ6Kx4RowsAVX2(SB)

#include "intdot4_types_amd64.h"
#include "intdot4k_amd64.h"
#include "intdot4q6k_amd64.h"
