// The block types of intdot4_amd64.h: for each, its weight block's size,
// its X4PAIR (X4SPAIR or X4UPAIR) and X4W(p, w, ws), which unpacks the
// weights of the block at p as dotQ80, dotQ50 and dotQ40 do, into w: for
// X4SPAIR their magnitudes, leaving the signed weights where X4WS0 (row p
// = SI) and X4WS1 (p = R14) name them; for X4UPAIR the weights plus k
// (the corrections Go passes are -k·Σx: x4corr16 for k = 16, x4corr128
// for k = 128). X4W clobbers only Y12-Y15, which hold nothing then. The
// including file defines NAME_Q80X4ROWS, NAME_Q50X4ROWS and
// NAME_Q40X4ROWS, and X4VNNI in the VNNI build; and the eight-vector
// tiles it builds: NAME_Q80X8ROWS, NAME_Q50X8ROWS and NAME_Q40X8ROWS
// (intdot8_amd64.h) on AVX2; NAME_Q40X8ROWS, and NAME_Q80X8ROWS2 and
// NAME_Q50X8ROWS2 (the two-row tiles of intdot8_vnni_amd64.h) with VNNI.

// X4FRAME(dst, qstride): a tile's frame: the current row (0(SP), from
// the argument row), output (8(SP), from dst) and rows left (16(SP), from
// nrows); the vectors' stride (the argument qstride) in R9, three times
// it in R10. Clobbers AX.
#define X4FRAME(dst, qstride) \
	MOVQ row+0(FP), AX \
	MOVQ AX, 0(SP) \
	MOVQ dst, AX \
	MOVQ AX, 8(SP) \
	MOVQ nrows+16(FP), AX \
	MOVQ AX, 16(SP) \
	MOVQ qstride, R9 \
	LEAQ (R9)(R9*2), R10

// X8END(stride, ye, yf, yg, yh, xe, xf, xg, xh): a row's end: the
// horizontal sums of vectors 0-3 (Y0-Y3) and 4-7 (ye-yh, whose lower
// halves are xe-xh) stored at the current output, dst[k·stride] for
// vector k (stride the argument dstStride), and the frame moved to the
// next row. Clobbers AX, R8, R14 and Y15.
#define X8END(stride, ye, yf, yg, yh, xe, xf, xg, xh) \
	X4HSUM(Y0, Y1, Y2, Y3, X0, X1, X2, X3) \
	X4HSUM(ye, yf, yg, yh, xe, xf, xg, xh) \
	MOVQ 8(SP), AX \
	MOVQ stride, R8 \
	SHLQ $2, R8 \
	MOVQ AX, R14 \
	Q8STORE(X0, R14) \
	Q8STORE(xe, R14) \
	ADDQ $4, AX \
	MOVQ AX, 8(SP) \
	MOVQ rowBytes+8(FP), AX \
	ADDQ AX, 0(SP) \
	DECQ 16(SP)

// Q8STORE(x, p): x's four lanes to (p), (p)+R8, (p)+2·R8, (p)+3·R8,
// leaving p four vectors on (p += 4·R8).
#define Q8STORE(x, p) \
	VMOVSS     x, (p) \
	VEXTRACTPS $1, x, (p)(R8*1) \
	LEAQ       (p)(R8*2), p \
	VEXTRACTPS $2, x, (p) \
	VEXTRACTPS $3, x, (p)(R8*1) \
	LEAQ       (p)(R8*2), p

// X4ZERO8: Y0-Y7 zeroed, a tile's eight accumulators.
#define X4ZERO8 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7

// X4SPLAT(name, v): a 32-byte constant, the 8-byte v four times.
#define X4SPLAT(name, v) \
	DATA  name+0(SB)/8, v \
	DATA  name+8(SB)/8, v \
	DATA  name+16(SB)/8, v \
	DATA  name+24(SB)/8, v \
	GLOBL name(SB), RODATA|NOPTR, $32

// Byte k of x4spread is k/8, to spread byte k/8 of qh over bytes k; byte
// k of x4bit is 1<<(k%8), the bit of element k in its byte.
DATA x4spread<>+0(SB)/8, $0x0000000000000000
DATA x4spread<>+8(SB)/8, $0x0101010101010101
DATA x4spread<>+16(SB)/8, $0x0202020202020202
DATA x4spread<>+24(SB)/8, $0x0303030303030303
GLOBL x4spread<>(SB), RODATA|NOPTR, $32
X4SPLAT(x4bit<>, $0x8040201008040201)
X4SPLAT(x4low<>, $0x0f0f0f0f0f0f0f0f)
X4SPLAT(x4eight<>, $0x0808080808080808)
X4SPLAT(x4sixteen<>, $0x1010101010101010)
X4SPLAT(x4top<>, $0x8080808080808080)
X4SPLAT(x4f0<>, $0xf0f0f0f0f0f0f0f0)
X4SPLAT(x4ones<>, $0x0001000100010001)

// Q8_0: scale, then 32 signed bytes. With VNNI, unsigned as w+128
// (VPDPBUSD takes them whole); with AVX2 by the sign trick, the signed
// bytes read in place (VPMADDUBSW's 16-bit pairs would saturate on w+128).
#define NAME_X4ROWS NAME_Q80X4ROWS
#define NAME_X8ROWS NAME_Q80X8ROWS
#define NAME_X8ROWS2 NAME_Q80X8ROWS2
#define BLOCKBYTES $34
#ifdef X4VNNI
#define X4PAIR(ws, c, w, p, sel, acc) X4UPAIR(c, w, p, sel, acc)
#define X4W(p, w, ws) \
	VMOVDQU 2(p), w \
	VPXOR   x4top<>(SB), w, w
#else
#define X4PAIR(ws, c, w, p, sel, acc) X4SPAIR(ws, w, p, sel, acc)
#define X4W(p, w, ws) VPABSB 2(p), w
#endif
#define X4WS0 2(SI)
#define X4WS1 2(R14)
#include "intdot4_amd64.h"
#ifdef NAME_Q80X8ROWS
#include "intdot8_amd64.h"
#endif
#ifdef NAME_Q80X8ROWS2
#include "intdot8_vnni_amd64.h"
#endif
#undef NAME_X8ROWS2
#undef NAME_X8ROWS
#undef NAME_X4ROWS
#undef BLOCKBYTES
#undef X4PAIR
#undef X4WS0
#undef X4WS1
#undef X4W

// Q5_0: scale, 32 fifth bits, then 16 bytes of low nibbles; weights are
// the 5-bit values minus 16, taken unsigned (k = 16).
#define NAME_X4ROWS NAME_Q50X4ROWS
#define NAME_X8ROWS NAME_Q50X8ROWS
#define NAME_X8ROWS2 NAME_Q50X8ROWS2
#define BLOCKBYTES $22
#define X4PAIR(ws, c, w, p, sel, acc) X4UPAIR(c, w, p, sel, acc)
#define X4WS0 2(SI)
#define X4WS1 2(R14)
#define X4W(p, w, ws) \
	Q5MASK(p, Y14) \
	VPAND x4sixteen<>(SB), Y14, Y14 \
	Q5LOW(p, Y15, X15, X13) \
	VPOR  Y14, Y15, w

// Q5MASK(p, y): bytes of 0xff in y where the element of the Q5_0 block at
// p has its fifth bit set, else 0 (element k in byte k).
#define Q5MASK(p, y) \
	VPBROADCASTD 2(p), y \
	VPSHUFB      x4spread<>(SB), y, y \
	VPAND        x4bit<>(SB), y, y \
	VPCMPEQB     x4bit<>(SB), y, y

// Q5LOW(p, y, x, xt): the low nibbles of the Q5_0 block at p in y (x
// its lower half), element k in byte k; clobbers xt.
#define Q5LOW(p, y, x, xt) \
	VMOVDQU     6(p), x \
	VPSRLW      $4, x, xt \
	VINSERTI128 $1, xt, y, y \
	VPAND       x4low<>(SB), y, y
#include "intdot4_amd64.h"
#ifdef NAME_Q50X8ROWS
#include "intdot8_amd64.h"
#endif
#ifdef NAME_Q50X8ROWS2
#include "intdot8_vnni_amd64.h"
#endif
#undef NAME_X8ROWS2
#undef NAME_X8ROWS
#undef NAME_X4ROWS
#undef BLOCKBYTES
#undef X4PAIR
#undef X4WS0
#undef X4WS1
#undef X4W

// Q4_0: scale, then 16 bytes of nibbles; weights are the nibbles minus 8.
#define NAME_X4ROWS NAME_Q40X4ROWS
#define NAME_X8ROWS NAME_Q40X8ROWS
#define BLOCKBYTES $18
#define X4PAIR(ws, c, w, p, sel, acc) X4SPAIR(ws, w, p, sel, acc)
#define X4WS0 24(SP)
#define X4WS1 56(SP)
#define X4W(p, absw, ws) \
	VMOVDQU     2(p), X15 \
	VPSRLW      $4, X15, X14 \
	VINSERTI128 $1, X14, Y15, Y15 \
	VPAND       x4low<>(SB), Y15, Y15 \
	VPSUBB      x4eight<>(SB), Y15, Y15 \
	VMOVDQU     Y15, ws \
	VPABSB      Y15, absw
#include "intdot4_amd64.h"
#ifdef NAME_Q40X8ROWS
#include "intdot8_amd64.h"
#endif
#undef NAME_X8ROWS
#undef NAME_X4ROWS
#undef BLOCKBYTES
#undef X4WS0
#undef X4WS1
#undef X4W
#undef X4PAIR
