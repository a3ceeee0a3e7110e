#include "textflag.h"

// dotQ80x4Rows, dotQ50x4Rows and dotQ40x4Rows with AVX-512 VNNI's VPDPBUSD (see intdot4_amd64.h),
// and the eight-vector tiles: Q8_0's and Q5_0's two rows at a time
// (intdot8_vnni_amd64.h), Q4_0's of intdot8_amd64.h with the same integer
// dots; and the K-quants' one-row, four- and eight-vector kernels with
// VPDPWSSD (intq6k_amd64.h: Q6_K; intq4k_amd64.h: Q4_K, and Q5_K's one
// row).

#define I8SETUP

#define I8DOT(x, u, dst) \
	VPXOR    dst, dst, dst \
	VPDPBUSD x, u, dst

#define X4VNNI
#define X4DOT(x, u, dst) I8DOT(x, u, dst)
#define X4UDOT(x, u, c, dst) \
	VMOVDQU  c, dst \
	VPDPBUSD x, u, dst

// VPMADDWD's constant, which VPDPBUSD does without (intdot8_amd64.h
// redefines it).
#define X4ONES x4ones<>(SB)

#define NAME_Q80X4ROWS ·dotQ80x4RowsVNNI(SB)
#define NAME_Q50X4ROWS ·dotQ50x4RowsVNNI(SB)
#define NAME_Q40X4ROWS ·dotQ40x4RowsVNNI(SB)
#define NAME_Q4KX4ROWS ·dotQ4Kx4RowsVNNI(SB)
#define NAME_Q6K ·dotQ6KVNNI(SB)
#define NAME_Q4K ·dotQ4KVNNI(SB)
#define NAME_Q5K ·dotQ5KVNNI(SB)
#define NAME_Q6KX4ROWS ·dotQ6Kx4RowsVNNI(SB)
#define NAME_Q40X8ROWS ·dotQ40x8RowsVNNI(SB)
#define NAME_Q80X8ROWS2 ·dotQ80x8RowsVNNI(SB)
#define NAME_Q50X8ROWS2 ·dotQ50x8RowsVNNI(SB)
#define NAME_Q4KX8ROWS ·dotQ4Kx8RowsVNNI(SB)
#define NAME_Q6KX8ROWS ·dotQ6Kx8RowsVNNI(SB)

#include "intdot4_types_amd64.h"
#include "intq6k_amd64.h"
#include "intq4k_amd64.h"

// The tiles over unsigned activations (intdot8u_vnni_amd64.h): Q8_0's
// weights as they are, Q5_0's 5-bit values minus 16 (Q5MASK, Q5LOW of
// intdot4_types_amd64.h): the nibble where the fifth bit is set, the
// nibble with its top four bits set (nibble - 16) where it is clear.
#define NAME_X8UROWS ·dotQ80x8RowsUVNNI(SB)
#define NAME_X4UROWS ·dotQ80x4RowsUVNNI(SB)
#define BLOCKBYTES $34
#define X4UW(p, w) VMOVDQU 2(p), w
#include "intdot8u_vnni_amd64.h"
#undef NAME_X8UROWS
#undef NAME_X4UROWS
#undef BLOCKBYTES
#undef X4UW

#define NAME_X8UROWS ·dotQ50x8RowsUVNNI(SB)
#define BLOCKBYTES $22
#define X4UW(p, w) \
	Q5MASK(p, Y10) \
	VPANDN x4f0<>(SB), Y10, Y10 \
	Q5LOW(p, Y11, X11, X12) \
	VPOR   Y10, Y11, w
#include "intdot8u_vnni_amd64.h"
#undef NAME_X8UROWS
#undef BLOCKBYTES
#undef X4UW
