// The block types of intdot4_amd64.h: for each, its weight block's size,
// the constants its unpacking needs, and X4LOADW, which sets Y4 to the
// signed weights of the block at SI exactly as dotQ80, dotQ50 and dotQ40
// do (clobbering only Y7 and Y8). The including file defines
// NAME_Q80X4ROWS, NAME_Q50X4ROWS and NAME_Q40X4ROWS.

#define X4BYTES(c, reg) \
	MOVL         c, AX \
	VMOVD        AX, X8 \
	VPBROADCASTD X8, reg

// Byte k of x4spread is k/8, to spread byte k/8 of qh over bytes k; byte
// k of x4bit is 1<<(k%8), the bit of element k in its byte.
DATA x4spread<>+0(SB)/8, $0x0000000000000000
DATA x4spread<>+8(SB)/8, $0x0101010101010101
DATA x4spread<>+16(SB)/8, $0x0202020202020202
DATA x4spread<>+24(SB)/8, $0x0303030303030303
GLOBL x4spread<>(SB), RODATA|NOPTR, $32
DATA x4bit<>+0(SB)/8, $0x8040201008040201
DATA x4bit<>+8(SB)/8, $0x8040201008040201
DATA x4bit<>+16(SB)/8, $0x8040201008040201
DATA x4bit<>+24(SB)/8, $0x8040201008040201
GLOBL x4bit<>(SB), RODATA|NOPTR, $32

// Q8_0: scale, then 32 signed bytes.
#define NAME_X4ROWS NAME_Q80X4ROWS
#define BLOCKBYTES $34
#define X4CONSTS
#define X4LOADW VMOVDQU 2(SI), Y4
#include "intdot4_amd64.h"
#undef NAME_X4ROWS
#undef BLOCKBYTES
#undef X4CONSTS
#undef X4LOADW

// Q5_0: scale, 32 fifth bits, then 16 bytes of low nibbles; weights are
// the 5-bit values minus 16.
#define NAME_X4ROWS NAME_Q50X4ROWS
#define BLOCKBYTES $22
#define X4CONSTS \
	X4BYTES($0x0f0f0f0f, Y14) \
	X4BYTES($0x10101010, Y13) \
	VMOVDQU x4spread<>(SB), Y12 \
	VMOVDQU x4bit<>(SB), Y11
#define X4LOADW \
	VPBROADCASTD 2(SI), Y7 \
	VPSHUFB      Y12, Y7, Y7 \
	VPAND        Y11, Y7, Y7 \
	VPCMPEQB     Y11, Y7, Y7 \
	VPAND        Y13, Y7, Y7 \
	VMOVDQU      6(SI), X4 \
	VPSRLW       $4, X4, X8 \
	VINSERTI128  $1, X8, Y4, Y4 \
	VPAND        Y14, Y4, Y4 \
	VPOR         Y7, Y4, Y4 \
	VPSUBB       Y13, Y4, Y4
#include "intdot4_amd64.h"
#undef NAME_X4ROWS
#undef BLOCKBYTES
#undef X4CONSTS
#undef X4LOADW

// Q4_0: scale, then 16 bytes of nibbles; weights are the nibbles minus 8.
#define NAME_X4ROWS NAME_Q40X4ROWS
#define BLOCKBYTES $18
#define X4CONSTS \
	X4BYTES($0x0f0f0f0f, Y14) \
	X4BYTES($0x08080808, Y13)
#define X4LOADW \
	VMOVDQU     2(SI), X4 \
	VPSRLW      $4, X4, X8 \
	VINSERTI128 $1, X8, Y4, Y4 \
	VPAND       Y14, Y4, Y4 \
	VPSUBB      Y13, Y4, Y4
#include "intdot4_amd64.h"
