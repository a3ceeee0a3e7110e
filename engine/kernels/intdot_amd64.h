// Integer dot products of quantized weight rows with 8-bit activation
// blocks (see dot.go), written once and assembled twice: intdot_avx2_amd64.s
// and intdot_vnni_amd64.s define the names and I8DOT, then include this. A
// kernel whose NAME_ a build leaves undefined is that build's own (the
// VNNI build's Q8_0 and Q5_0). The K-quants' are in intq6k_amd64.h and
// intq4k_amd64.h.
//
// I8DOT(x, u, dst) sets each int32 lane of dst to the sum of four products
// of unsigned bytes of u by signed bytes of x (a register or memory); dst
// must differ from u. With AVX2 that is VPMADDUBSW then VPMADDWD by int16
// ones (Y15, set by I8SETUP); with AVX-512 VNNI it is one VPDPBUSD.
// Every product here is unsigned weight × signed activation, so nothing
// saturates: VPMADDUBSW's pair sums stay below 2·128·127.
//
// Go assembler operand order is reversed from Intel's: VFMADD231PS m, a,
// acc computes acc += a*m.

// Horizontal sum of Y0 into X0[0]; clobbers X1.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VHADDPS      X0, X0, X0

#define BYTES(c, reg) \
	MOVL         c, AX \
	VMOVD        AX, X8 \
	VPBROADCASTD X8, reg

// Block scale dw(f16 at SI)*dx(f32 at DX) broadcast into Y1; clobbers AX.
#define BLOCKSCALE \
	MOVWLZX      (SI), AX \
	VMOVD        AX, X1 \
	VCVTPH2PS    X1, X1 \
	VMULSS       (DX), X1, X1 \
	VBROADCASTSS X1, Y1

// Y0 += Y1 * float(Σ w(Y2, signed bytes)·x(Y3, signed bytes)): |w| times
// x with w's sign keeps the unsigned×signed form.
#define DOTI8 \
	VPSIGNB     Y2, Y2, Y4 \
	VPSIGNB     Y2, Y3, Y5 \
	I8DOT(Y5, Y4, Y6) \
	VCVTDQ2PS   Y6, Y6 \
	VFMADD231PS Y6, Y1, Y0

#ifdef NAME_Q80
// func dotQ80(row *byte, d *float32, qs *int8, nb int) float32
// (a build that does not name it has its own: intdot_vnni_amd64.s)
TEXT NAME_Q80, NOSPLIT, $0-36
	MOVQ   row+0(FP), SI
	MOVQ   d+8(FP), DX
	MOVQ   qs+16(FP), DI
	MOVQ   nb+24(FP), CX
	I8SETUP
	VXORPS Y0, Y0, Y0

q80loop:
	TESTQ   CX, CX
	JZ      q80done
	BLOCKSCALE
	VMOVDQU 2(SI), Y2
	VMOVDQU (DI), Y3
	DOTI8
	ADDQ    $34, SI
	ADDQ    $4, DX
	ADDQ    $32, DI
	DECQ    CX
	JMP     q80loop

q80done:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET
#endif

// func dotQ40(row *byte, d *float32, qs *int8, nb int) float32
TEXT NAME_Q40, NOSPLIT, $0-36
	MOVQ   row+0(FP), SI
	MOVQ   d+8(FP), DX
	MOVQ   qs+16(FP), DI
	MOVQ   nb+24(FP), CX
	I8SETUP
	BYTES($0x0f0f0f0f, Y14)
	BYTES($0x08080808, Y13)
	VXORPS Y0, Y0, Y0

q40loop:
	TESTQ       CX, CX
	JZ          q40done
	BLOCKSCALE
	VMOVDQU     2(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y14, Y2, Y2
	VPSUBB      Y13, Y2, Y2
	VMOVDQU     (DI), Y3
	DOTI8
	ADDQ        $18, SI
	ADDQ        $4, DX
	ADDQ        $32, DI
	DECQ        CX
	JMP         q40loop

q40done:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// Byte k of q5spread is k/8, to spread byte k/8 of qh over bytes k;
// byte k of q5bit is 1<<(k%8), the bit of element k in its byte.
DATA q5spread<>+0(SB)/8, $0x0000000000000000
DATA q5spread<>+8(SB)/8, $0x0101010101010101
DATA q5spread<>+16(SB)/8, $0x0202020202020202
DATA q5spread<>+24(SB)/8, $0x0303030303030303
GLOBL q5spread<>(SB), RODATA|NOPTR, $32
DATA q5bit<>+0(SB)/8, $0x8040201008040201
DATA q5bit<>+8(SB)/8, $0x8040201008040201
DATA q5bit<>+16(SB)/8, $0x8040201008040201
DATA q5bit<>+24(SB)/8, $0x8040201008040201
GLOBL q5bit<>(SB), RODATA|NOPTR, $32

// Q5_0 weights of the block at p plus 16, unsigned bytes in Y2: the
// low nibbles (Y14 = 0x0f bytes) and the fifth bits (qh at 2(p), spread
// by Y12 and Y11) as 0x10 (Y13). Clobbers Y7, Y10.
#define Q5U(p) \
	VPBROADCASTD 2(p), Y7 \
	VPSHUFB      Y12, Y7, Y7 \
	VPAND        Y11, Y7, Y7 \
	VPCMPEQB     Y11, Y7, Y7 \
	VPAND        Y13, Y7, Y7 \
	VMOVDQU      6(p), X2 \
	VPSRLW       $4, X2, X10 \
	VINSERTI128  $1, X10, Y2, Y2 \
	VPAND        Y14, Y2, Y2 \
	VPOR         Y7, Y2, Y2

#ifdef NAME_Q50
// func dotQ50(row *byte, d *float32, qs *int8, nb int) float32
// (a build that does not name it has its own: intdot_vnni_amd64.s)
TEXT NAME_Q50, NOSPLIT, $0-36
	MOVQ    row+0(FP), SI
	MOVQ    d+8(FP), DX
	MOVQ    qs+16(FP), DI
	MOVQ    nb+24(FP), CX
	I8SETUP
	BYTES($0x0f0f0f0f, Y14)
	BYTES($0x10101010, Y13)
	VMOVDQU q5spread<>(SB), Y12
	VMOVDQU q5bit<>(SB), Y11
	VXORPS  Y0, Y0, Y0

q50loop:
	TESTQ        CX, CX
	JZ           q50done
	BLOCKSCALE
	Q5U(SI)
	VPSUBB       Y13, Y2, Y2
	VMOVDQU      (DI), Y3
	DOTI8
	ADDQ         $22, SI
	ADDQ         $4, DX
	ADDQ         $32, DI
	DECQ         CX
	JMP          q50loop

q50done:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET
#endif
