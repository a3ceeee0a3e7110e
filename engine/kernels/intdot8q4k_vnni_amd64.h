// The Q4_K product of weight rows with eight activation vectors at once
// on 512-bit registers, AVX-512 VNNI only (included by
// intdot4_vnni_amd64.s last: it takes K8HEAD and K8SETUP from
// intdot8q4k_amd64.h, X8END from intdot4_types_amd64.h, X2ZERO16 from
// intdot8_vnni_amd64.h). A chunk of 64 weights is one register: its low
// nibbles (the even sub-block) in the lower half, its high nibbles (the
// odd one) in the upper, against the vector's 64 activation bytes, which
// lie in the same order; so one VPDPBUSD, one
// conversion and one FMA do both sub-blocks, where 256-bit registers take
// two of each. A vector's accumulator likewise holds its even sums in the
// lower half and its odd sums in the upper, the two accumulators of dotQ4K,
// lane for lane; each sub-block's coefficient is spread over its half by
// one permutation. With 32 registers the eight vectors' accumulators
// (Z16-Z23) and mins terms (Y24-Y31) stay in registers for the whole row.
// Per row and vector the arithmetic is dotQ4K's (KSETUP, KPAIR, KRETURN)
// in the same order, so the results are its bits.
//
// Frame: 0 current row, 8 current output, 16 rows left; 256 + 64v vector
// v's coefficients d·dx·sc for the current super-block and 32 bytes of
// zeros (K8SETUP writes them, R14 the frame's start).
//
// Vector v's quants are at DI + v·qstride (R9 = qstride, R10 =
// 3·qstride) and, for v ≥ 4, R11 + (v-4)·qstride; its scales and block
// sums at DX and BX + v·dstride (R12 = dstride, R13 = 3·dstride).

// Lanes 0-7 of qzperm+64k pick coefficient 2k, lanes 8-15 coefficient
// 2k+1: chunk k's even and odd sub-blocks.
DATA qzperm<>+0(SB)/8, $0x0000000000000000
DATA qzperm<>+8(SB)/8, $0x0000000000000000
DATA qzperm<>+16(SB)/8, $0x0000000000000000
DATA qzperm<>+24(SB)/8, $0x0000000000000000
DATA qzperm<>+32(SB)/8, $0x0000000100000001
DATA qzperm<>+40(SB)/8, $0x0000000100000001
DATA qzperm<>+48(SB)/8, $0x0000000100000001
DATA qzperm<>+56(SB)/8, $0x0000000100000001
DATA qzperm<>+64(SB)/8, $0x0000000200000002
DATA qzperm<>+72(SB)/8, $0x0000000200000002
DATA qzperm<>+80(SB)/8, $0x0000000200000002
DATA qzperm<>+88(SB)/8, $0x0000000200000002
DATA qzperm<>+96(SB)/8, $0x0000000300000003
DATA qzperm<>+104(SB)/8, $0x0000000300000003
DATA qzperm<>+112(SB)/8, $0x0000000300000003
DATA qzperm<>+120(SB)/8, $0x0000000300000003
DATA qzperm<>+128(SB)/8, $0x0000000400000004
DATA qzperm<>+136(SB)/8, $0x0000000400000004
DATA qzperm<>+144(SB)/8, $0x0000000400000004
DATA qzperm<>+152(SB)/8, $0x0000000400000004
DATA qzperm<>+160(SB)/8, $0x0000000500000005
DATA qzperm<>+168(SB)/8, $0x0000000500000005
DATA qzperm<>+176(SB)/8, $0x0000000500000005
DATA qzperm<>+184(SB)/8, $0x0000000500000005
DATA qzperm<>+192(SB)/8, $0x0000000600000006
DATA qzperm<>+200(SB)/8, $0x0000000600000006
DATA qzperm<>+208(SB)/8, $0x0000000600000006
DATA qzperm<>+216(SB)/8, $0x0000000600000006
DATA qzperm<>+224(SB)/8, $0x0000000700000007
DATA qzperm<>+232(SB)/8, $0x0000000700000007
DATA qzperm<>+240(SB)/8, $0x0000000700000007
DATA qzperm<>+248(SB)/8, $0x0000000700000007
GLOBL qzperm<>(SB), RODATA|NOPTR, $256

// K8SETUP stores each vector's coefficients as 64 bytes (the upper 32
// zero), which the permutations then load whole: a 64-byte load of two
// 32-byte stores still in flight is not forwarded and waits for both.
#undef K8STORE
#define K8STORE(v) VMOVUPS Z13, 256+v+v(R14)

// QZNIB(qoff): the chunk's 32 bytes of nibbles at qoff(SI) as 64 weights
// in Z0, low nibbles then high (Z14 holds 0x0f bytes). Clobbers Y1.
#define QZNIB(qoff) \
	VMOVDQU      qoff(SI), Y0 \
	VPSRLW       $4, Y0, Y1 \
	VINSERTI64X4 $1, Y1, Z0, Z0 \
	VPANDD       Z14, Z0, Z0

// QZVEC(x, v, idx, t, c, acc): vector v's share (v = 0, 32, …, 224) of
// the chunk in Z0, against its 64 activation bytes at x: acc += the
// integer dots, as floats, times the sub-blocks' coefficients (picked by
// idx from the frame). Clobbers t and c.
#define QZVEC(x, v, idx, t, c, acc) \
	VPXORD      t, t, t \
	VPDPBUSD    x, Z0, t \
	VCVTDQ2PS   t, t \
	VPERMPS     256+v+v(SP), idx, c \
	VFMADD231PS t, c, acc

// QZCHUNK(k): chunk k (0-3) of the super-block for the eight vectors.
#define QZCHUNK(k, idx) \
	QZNIB(16+32*k) \
	QZVEC(64*k(DI), 0, idx, Z1, Z2, Z16) \
	QZVEC(64*k(DI)(R9*1), 32, idx, Z3, Z8, Z17) \
	QZVEC(64*k(DI)(R9*2), 64, idx, Z9, Z10, Z18) \
	QZVEC(64*k(DI)(R10*1), 96, idx, Z11, Z12, Z19) \
	QZVEC(64*k(R11), 128, idx, Z1, Z2, Z20) \
	QZVEC(64*k(R11)(R9*1), 160, idx, Z3, Z8, Z21) \
	QZVEC(64*k(R11)(R9*2), 192, idx, Z9, Z10, Z22) \
	QZVEC(64*k(R11)(R10*1), 224, idx, Z11, Z12, Z23)

// QZFIN(acc, even, mins, y): a vector's result before the horizontal sum,
// as KRETURN: y = (even + odd) - mins, the accumulator's halves.
#define QZFIN(acc, even, mins, y) \
	VEXTRACTF64X4 $1, acc, y \
	VADDPS        y, even, y \
	VSUBPS        mins, y, y

// func dotQ4Kx8Rows(row *byte, rowBytes, nrows int, d *float32, qs *int8, sum *int32, nsb, qstride, dstride int, dst *float32, dstStride int)
TEXT NAME_Q4KX8ROWSZ, NOSPLIT, $768-88
	X4FRAME(dst+72(FP), qstride+56(FP))
	MOVQ           dstride+64(FP), R12
	LEAQ           (R12)(R12*2), R13
	MOVL           $0x0f0f0f0f, AX
	VPBROADCASTD   AX, Z14

qzrow:
	CMPQ   16(SP), $0
	JLE    qzdone
	MOVQ   0(SP), SI
	MOVQ   d+24(FP), DX
	MOVQ   qs+32(FP), DI
	MOVQ   sum+40(FP), BX
	MOVQ   nsb+48(FP), CX
	LEAQ   0(SP), R14 // X8END takes R14
	// The permutations (a row's end takes Z4-Z7).
	VMOVDQU32 qzperm<>+0(SB), Z4
	VMOVDQU32 qzperm<>+64(SB), Z5
	VMOVDQU32 qzperm<>+128(SB), Z6
	VMOVDQU32 qzperm<>+192(SB), Z7
	X2ZERO16

qzloop:
	TESTQ CX, CX
	JZ    qzsum
	// Eight super-blocks ahead, as the four-vector tile.
	K4PREFETCH(SI)
	K8HEAD
	K8SETUP((DX), (BX), 0, Y24)
	K8SETUP((DX)(R12*1), (BX)(R12*1), 32, Y25)
	K8SETUP((DX)(R12*2), (BX)(R12*2), 64, Y26)
	K8SETUP((DX)(R13*1), (BX)(R13*1), 96, Y27)
	LEAQ (DX)(R12*4), R8
	LEAQ (BX)(R12*4), R11
	K8SETUP((R8), (R11), 128, Y28)
	K8SETUP((R8)(R12*1), (R11)(R12*1), 160, Y29)
	K8SETUP((R8)(R12*2), (R11)(R12*2), 192, Y30)
	K8SETUP((R8)(R13*1), (R11)(R13*1), 224, Y31)
	LEAQ (DI)(R9*4), R11
	QZCHUNK(0, Z4)
	QZCHUNK(1, Z5)
	QZCHUNK(2, Z6)
	QZCHUNK(3, Z7)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, BX
	DECQ CX
	JMP  qzloop

qzsum:
	QZFIN(Z16, Y16, Y24, Y0)
	QZFIN(Z17, Y17, Y25, Y1)
	QZFIN(Z18, Y18, Y26, Y2)
	QZFIN(Z19, Y19, Y27, Y3)
	QZFIN(Z20, Y20, Y28, Y4)
	QZFIN(Z21, Y21, Y29, Y5)
	QZFIN(Z22, Y22, Y30, Y6)
	QZFIN(Z23, Y23, Y31, Y7)
	X8END(dstStride+80(FP), Y4, Y5, Y6, Y7, X4, X5, X6, X7)
	JMP qzrow

qzdone:
	VZEROUPPER
	RET
