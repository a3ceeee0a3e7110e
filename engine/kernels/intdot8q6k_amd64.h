// The Q6_K product of weight rows with eight activation vectors at once
// (included by intdot4_avx2_amd64.s and intdot4_vnni_amd64.s, after
// intdot4q6k_amd64.h, whose Q6SCALES it uses; the two builds differ in
// Q8W and Q8ONE, the VNNI one taking x4corr's corrections as a last
// argument). Batched decode has eight vectors, and
// what a group of 32 weights costs besides the vectors' own products (its
// 6-bit values decoded, their signs split off, its scales widened) is
// then paid once for eight instead of twice for four, which on AVX2 is
// about a third of the four-vector tile's vector instructions. The scale
// products d·dx of the super-block's eight groups and eight vectors are
// computed once a super-block into the frame, where each vector's is
// broadcast from, rather than shuffled per group. Per row and vector the
// arithmetic is dotQ6K's in the same order (the same integer lanes, the
// same product d·dx, the same FMA and horizontal sum), so the results are
// its bits.
//
// Frame: 0 current row, 8 current output, 16 rows left, 32 + 16k + 4v:
// the scale product of group k (0-7) and vector v (0-3), and 160 + 16k +
// 4(v-4) of vectors 4-7. Vector v's quants are at DI + v·qstride and, for
// v ≥ 4, R11 + (v-4)·qstride (R9 = qstride, R10 = 3·qstride); the block
// scales of vectors 0-3 interleaved at DX, of vectors 4-7 at DX + R12.
// Accumulators: Y0-Y3 vectors 0-3, Y8-Y11 vectors 4-7. The masks of qh's
// bits are read from memory, to leave the registers to the accumulators.

X4SPLAT(x8qh03<>, $0x0303030303030303)
X4SPLAT(x8qh0c<>, $0x0c0c0c0c0c0c0c0c)
X4SPLAT(x8qh30<>, $0x3030303030303030)
X4SPLAT(x8qhc0<>, $0xc0c0c0c0c0c0c0c0)

#ifdef X4VNNI
// Q8W, VNNI: the 6-bit values q stay in Y5 unsigned, the scales as int32.
#define Q8W(scoff) Q6SCALES(VPBROADCASTD, scoff)

// Q8ONE(x, c, p, acc), VNNI: one vector's share of a group: VPDPBUSD of q
// and x onto the vector's corrections c (x4corr's c32, -32 times each
// lane's activations), so (q-32)·x in one instruction where AVX2 takes
// three, then the scales by VPMULLD: the same integer lanes as AVX2's
// VPMADDWD, then the same FMA (its broadcast from memory), so the same
// bits. Four vector ALU instructions a group and vector against five.
#define Q8ONE(x, c, p, acc) \
	VMOVDQU          c, Y6 \
	VPDPBUSD         x, Y5, Y6 \
	VPMULLD          Y4, Y6, Y6 \
	VCVTDQ2PS        Y6, Y6 \
	VFMADD231PS.BCST p(SP), Y6, acc

// The corrections of vectors 0-3 at BX + v·qstride, 4-7 at R13 + ….
#define Q8CORR \
	MOVQ c32+72(FP), BX \
	LEAQ (BX)(R9*4), R13
#define Q8CORRNEXT \
	ADDQ $256, BX \
	ADDQ $256, R13
#define Q8FRAME $288-80
#else
// Q8W: the 6-bit values q in Y5 made |q-32| (Y5) and q-32 (Y15), and the
// scales as int16.
#define Q8W(scoff) \
	VPSUBB x4thirtytwo<>(SB), Y5, Y15 \
	VPABSB Y15, Y5 \
	Q6SCALES(VPBROADCASTW, scoff)

// Q8ONE(x, c, p, acc): one vector's share of a group, as the AVX2 Q6ONE
// (|w| in Y5, w in Y15, the scales as int16 in Y4; c unused), its scale
// product at p(SP).
#define Q8ONE(x, c, p, acc) \
	VMOVDQU      x, Y6 \
	VPSIGNB      Y15, Y6, Y6 \
	VPMADDUBSW   Y6, Y5, Y6 \
	VPMADDWD     Y4, Y6, Y6 \
	VCVTDQ2PS    Y6, Y6 \
	VBROADCASTSS p(SP), Y7 \
	VFMADD231PS  Y6, Y7, acc
#define Q8CORR
#define Q8CORRNEXT
#define Q8FRAME $288-72
#endif

// Q8GROUP(xoff, scoff, t): the group's signs and scales, then the eight
// vectors; t is the frame offset of the group's products for vector 0.
#define Q8GROUP(xoff, scoff, t) \
	Q8W(scoff) \
	Q8ONE(xoff(DI), xoff(BX), t, Y0) \
	Q8ONE(xoff(DI)(R9*1), xoff(BX)(R9*1), t+4, Y1) \
	Q8ONE(xoff(DI)(R9*2), xoff(BX)(R9*2), t+8, Y2) \
	Q8ONE(xoff(DI)(R10*1), xoff(BX)(R10*1), t+12, Y3) \
	Q8ONE(xoff(R11), xoff(R13), t+128, Y8) \
	Q8ONE(xoff(R11)(R9*1), xoff(R13)(R9*1), t+132, Y9) \
	Q8ONE(xoff(R11)(R9*2), xoff(R13)(R9*2), t+136, Y10) \
	Q8ONE(xoff(R11)(R10*1), xoff(R13)(R10*1), t+140, Y11)

// Q8HALF: Q6HALF's four groups (Q6KHALF's decoding), the masks from memory.
#define Q8HALF(qloff, qhoff, xoff, scoff, t) \
	VPAND   qloff(SI), Y14, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   x8qh03<>(SB), Y6, Y6 \
	VPSLLW  $4, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q8GROUP(xoff, scoff, t) \
	VPAND   qloff+32(SI), Y14, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   x8qh0c<>(SB), Y6, Y6 \
	VPSLLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q8GROUP(xoff+32, scoff+2, t+16) \
	VMOVDQU qloff(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   x8qh30<>(SB), Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q8GROUP(xoff+64, scoff+4, t+32) \
	VMOVDQU qloff+32(SI), Y5 \
	VPSRLW  $4, Y5, Y5 \
	VPAND   Y14, Y5, Y5 \
	VMOVDQU qhoff(SI), Y6 \
	VPAND   x8qhc0<>(SB), Y6, Y6 \
	VPSRLW  $2, Y6, Y6 \
	VPOR    Y6, Y5, Y5 \
	Q8GROUP(xoff+96, scoff+6, t+48)

// Q8PROD(off, t): four blocks' scale products: d (Y13) times the
// interleaved block scales at off, to t(SP).
#define Q8PROD(off, t) \
	VMULPS  off, Y13, Y7 \
	VMOVUPS Y7, t(SP)

// func dotQ6Kx8Rows(row *byte, rowBytes, nrows int, d4 *float32, qs *int8, nsb, qstride int, dst *float32, dstStride int[, c32 *int32])
TEXT NAME_Q6KX8ROWS, NOSPLIT, Q8FRAME
	X4FRAME(dst+56(FP), qstride+48(FP))
	MOVQ nsb+40(FP), R12
	SHLQ $7, R12 // 8 blocks of 16 bytes a super-block
	Q6BYTES($0x0f0f0f0f, Y14)

q8row:
	CMPQ   16(SP), $0
	JLE    q8done
	MOVQ   0(SP), SI
	MOVQ   d4+24(FP), DX
	MOVQ   qs+32(FP), DI
	LEAQ   (DI)(R9*4), R11
	Q8CORR
	MOVQ   nsb+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

q8loop:
	TESTQ        CX, CX
	JZ           q8sum
	PREFETCHT0   1260(SI)
	PREFETCHT0   1324(SI)
	PREFETCHT0   1388(SI)
	PREFETCHT0   1452(SI)
	MOVWLZX      208(SI), AX
	VMOVD        AX, X13
	VCVTPH2PS    X13, X13
	VBROADCASTSS X13, Y13
	Q8PROD((DX), 32)
	Q8PROD(32(DX), 64)
	Q8PROD(64(DX), 96)
	Q8PROD(96(DX), 128)
	Q8PROD((DX)(R12*1), 160)
	Q8PROD(32(DX)(R12*1), 192)
	Q8PROD(64(DX)(R12*1), 224)
	Q8PROD(96(DX)(R12*1), 256)
	Q8HALF(0, 128, 0, 192, 32)
	Q8HALF(64, 160, 128, 200, 96)
	ADDQ         $210, SI
	ADDQ         $256, DI
	ADDQ         $256, R11
	Q8CORRNEXT
	ADDQ         $128, DX
	DECQ         CX
	JMP          q8loop

q8sum:
	X8END(dstStride+64(FP), Y8, Y9, Y10, Y11, X8, X9, X10, X11)
	JMP q8row

q8done:
	VZEROUPPER
	RET
