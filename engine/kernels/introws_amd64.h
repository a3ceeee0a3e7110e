// One-vector dot products of two weight rows at a time, Q8_0 and Q5_0
// (introws_amd64.go calls them), assembled with both builds of I8DOT:
// intdot_avx2_amd64.s and intdot_vnni_amd64.s define NAME_Q80X2 and
// NAME_Q50X2, then include this after intdot_amd64.h. Each row keeps its
// own accumulator and adds its blocks in the order the one-row kernels
// do, computing the same values (the integer sums are exact in both
// builds), so the results are theirs bit for bit;
// the two independent chains of FMAs hide each other's latency, and the
// activations are read once for both rows.
//
// Decode is short of instructions here, not of bytes (Q5_0 above all), so
// a block costs fewer of them than in the one-row kernels: the f16 scale
// is converted straight from memory (VCVTPH2PS reads 8 bytes; only the
// first two count, the other lanes are never used), Q5_0's high nibbles
// come from one 128-bit broadcast shifted per lane (VPSRLVQ), and each
// iteration takes two blocks, the corrections addressed from the
// activations' pointer.
//
// Two rows read at once are two streams from memory, which the hardware
// prefetchers served worse than one (the pairs were 0.7× the one-row
// kernel on a matrix from memory): each iteration prefetches the next
// pair's bytes at the same offset, 2·rowBytes ahead (R10; R11 for the
// second row).

// Y1 = broadcast of the f16 scale at o+base times the activation scale
// at dof(DX), as BLOCKSCALE.
#define SCALEX(o, base, dof) \
	VCVTPH2PS    o base, X1 \
	VMULSS       dof(DX), X1, X1 \
	VBROADCASTSS X1, Y1

// acc += Y1 * float(Σ w(Y2)·x(Y3)), as DOTI8.
#define DOT2(acc) \
	VPSIGNB     Y2, Y2, Y4 \
	VPSIGNB     Y2, Y3, Y5 \
	I8DOT(Y5, Y4, Y6) \
	VCVTDQ2PS   Y6, Y6 \
	VFMADD231PS Y6, Y1, acc

// The Q8_0 block at offset o of both rows (row 0 at SI, row 1 rowBytes
// (R8) further) against activation bytes xo(DI), scale dof(DX).
#define Q80BLK(o, xo, dof) \
	VMOVDQU xo(DI), Y3 \
	SCALEX(o, (SI), dof) \
	VMOVDQU o+2(SI), Y2 \
	DOT2(Y0) \
	SCALEX(o, (SI)(R8*1), dof) \
	VMOVDQU o+2(SI)(R8*1), Y2 \
	DOT2(Y9)

// Sums the accumulators Y0 and Y9 into dst[0] and dst[1] (dst at off(FP)).
#define PAIRDONE(off) \
	MOVQ      dst+off(FP), R9 \
	HSUM \
	MOVSS     X0, (R9) \
	VMOVAPS   Y9, Y0 \
	HSUM \
	MOVSS     X0, 4(R9) \
	VZEROUPPER \
	RET

// The arguments both kernels share: rows at SI and SI+R8, R10 and R11
// their prefetch distances, scales DX, activations DI, nb in CX and half
// of it (the two-block iterations) in R9, accumulators zeroed.
#define PAIRSETUP(nboff) \
	MOVQ   row+0(FP), SI \
	MOVQ   rowBytes+8(FP), R8 \
	LEAQ   (R8)(R8*1), R10 \
	LEAQ   (R10)(R8*1), R11 \
	MOVQ   d+16(FP), DX \
	MOVQ   qs+24(FP), DI \
	MOVQ   nb+nboff(FP), CX \
	MOVQ   CX, R9 \
	SHRQ   $1, R9 \
	I8SETUP \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y9, Y9, Y9

// func dotQ80x2(row *byte, rowBytes int, d *float32, qs *int8, nb int, dst *float32)
TEXT NAME_Q80X2, NOSPLIT, $0-48
	PAIRSETUP(32)
	TESTQ R9, R9
	JZ    q80x2tail

q80x2loop:
	// 68 bytes an iteration: a prefetch per block and row reaches
	// every cache line.
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (SI)(R11*1)
	PREFETCHT0 34(SI)(R10*1)
	PREFETCHT0 34(SI)(R11*1)
	Q80BLK(0, 0, 0)
	Q80BLK(34, 32, 4)
	ADDQ       $68, SI
	ADDQ       $64, DI
	ADDQ       $8, DX
	DECQ       R9
	JNZ        q80x2loop

q80x2tail:
	TESTQ $1, CX
	JZ    q80x2done
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (SI)(R11*1)
	Q80BLK(0, 0, 0)

q80x2done:
	PAIRDONE(40)

// Q5_0 weights plus 16 of the block at o+base, unsigned bytes in Y2, as
// Q5U: the fifth bits as 0x10, or'ed into the nibbles. Y12 spreads qh
// over the bytes, Y11 keeps each byte's bit (0 or 1<<(k%8)), and
// VPSIGNB turns that into 0 or 16 in one instruction: Y13 is 16 where
// the bit is below bit 7 and -16 where it is bit 7, whose byte is
// negative. The nibbles: the block's 16 bytes in both lanes, shifted
// right by Y10's 0 (low lane) and 4 (high lane) bits, and'ed with 0x0f
// (Y14). Clobbers Y7.
#define Q5UX(o, base) \
	VPBROADCASTD   o+2 base, Y7 \
	VPSHUFB        Y12, Y7, Y7 \
	VPAND          Y11, Y7, Y7 \
	VPSIGNB        Y7, Y13, Y7 \
	VBROADCASTI128 o+6 base, Y2 \
	VPSRLVQ        Y10, Y2, Y2 \
	VPAND          Y14, Y2, Y2 \
	VPOR           Y7, Y2, Y2

// acc += Y1 * float(Σ (w+16)·x + c16 lanes), x at xo(DI) and the
// corrections at xo(DI)(BX*1): the lanes are DOT2's integers, Σ w·x over
// four bytes, without the sign instructions (as the four-vector tiles'
// X4UPAIR).
#define DOTUX(xo, acc) \
	I8DOT(xo(DI), Y2, Y6) \
	VPADDD      xo(DI)(BX*1), Y6, Y6 \
	VCVTDQ2PS   Y6, Y6 \
	VFMADD231PS Y6, Y1, acc

// The Q5_0 block at offset o of both rows against activations xo(DI),
// scale dof(DX).
#define Q50BLK(o, xo, dof) \
	SCALEX(o, (SI), dof) \
	Q5UX(o, (SI)) \
	DOTUX(xo, Y0) \
	SCALEX(o, (SI)(R8*1), dof) \
	Q5UX(o, (SI)(R8*1)) \
	DOTUX(xo, Y9)

// Per-qword shift counts: 0 in the low lane, 4 in the high one.
DATA q5nibshift<>+0(SB)/8, $0
DATA q5nibshift<>+8(SB)/8, $0
DATA q5nibshift<>+16(SB)/8, $4
DATA q5nibshift<>+24(SB)/8, $4
GLOBL q5nibshift<>(SB), RODATA|NOPTR, $32

// 16 in each byte but the last of each qword (bit 7 of qh's byte), -16 there.
DATA q5sign<>+0(SB)/8, $0xf010101010101010
DATA q5sign<>+8(SB)/8, $0xf010101010101010
DATA q5sign<>+16(SB)/8, $0xf010101010101010
DATA q5sign<>+24(SB)/8, $0xf010101010101010
GLOBL q5sign<>(SB), RODATA|NOPTR, $32

// func dotQ50x2(row *byte, rowBytes int, d *float32, qs *int8, c16 *int32, nb int, dst *float32)
TEXT NAME_Q50X2, NOSPLIT, $0-56
	PAIRSETUP(40)
	MOVQ    c16+32(FP), BX
	SUBQ    DI, BX
	BYTES($0x0f0f0f0f, Y14)
	VMOVDQU q5sign<>(SB), Y13
	VMOVDQU q5spread<>(SB), Y12
	VMOVDQU q5bit<>(SB), Y11
	VMOVDQU q5nibshift<>(SB), Y10
	TESTQ   R9, R9
	JZ      q50x2tail

q50x2loop:
	// 44 bytes an iteration: one prefetch per row reaches every line.
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (SI)(R11*1)
	Q50BLK(0, 0, 0)
	Q50BLK(22, 32, 4)
	ADDQ       $44, SI
	ADDQ       $64, DI
	ADDQ       $8, DX
	DECQ       R9
	JNZ        q50x2loop

q50x2tail:
	TESTQ $1, CX
	JZ    q50x2done
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (SI)(R11*1)
	Q50BLK(0, 0, 0)

q50x2done:
	PAIRDONE(48)
