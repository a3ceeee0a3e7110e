// Integer dot products of quantized weight rows with 8-bit activation
// blocks (see dot.go), written once and assembled twice: intdot_avx2_amd64.s
// and intdot_vnni_amd64.s define the names and I8DOT, then include this. A
// kernel whose NAME_ a build leaves undefined is that build's own (the
// VNNI build's Q8_0, Q5_0 and Q4_K). Q6_K's are in intq6k_amd64.h.
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

// The eight 6-bit scales (to Y3) and mins (to Y4), as floats, of the
// K-quant header at SI (scales at 4(SI)); clobbers R8-R13.
#define KSCALES \
	MOVL         4(SI), R8 \
	MOVL         8(SI), R9 \
	MOVL         12(SI), R10 \
	MOVL         R8, R11 \
	ANDL         $0x3f3f3f3f, R11 \
	MOVL         R9, R12 \
	ANDL         $0x3f3f3f3f, R12 \
	MOVL         R10, R13 \
	ANDL         $0x0f0f0f0f, R13 \
	SHRL         $6, R8 \
	ANDL         $0x03030303, R8 \
	SHLL         $4, R8 \
	ORL          R8, R13 \
	SHRL         $4, R10 \
	ANDL         $0x0f0f0f0f, R10 \
	SHRL         $6, R9 \
	ANDL         $0x03030303, R9 \
	SHLL         $4, R9 \
	ORL          R9, R10 \
	VMOVD        R11, X3 \
	VPINSRD      $1, R13, X3, X3 \
	VPMOVZXBD    X3, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VMOVD        R12, X4 \
	VPINSRD      $1, R10, X4, X4 \
	VPMOVZXBD    X4, Y4 \
	VCVTDQ2PS    Y4, Y4

// Q4_K and Q5_K share their super-block header: d, dmin and eight 6-bit
// scales and mins. KSETUP unpacks them for the super-block at SI (scales at
// 4(SI)) with activation scales at DX and block sums at BX: it writes
// coef[j] = d*sc[j]*dx[j] to the frame and adds dmin*m[j]*dx[j]*Σqx[j] to
// Y13. Clobbers Y1-Y6, AX, R8-R13.
#define KSETUP \
	MOVWLZX      (SI), AX \
	VMOVD        AX, X1 \
	VCVTPH2PS    X1, X1 \
	VBROADCASTSS X1, Y1 \
	MOVWLZX      2(SI), AX \
	VMOVD        AX, X2 \
	VCVTPH2PS    X2, X2 \
	VBROADCASTSS X2, Y2 \
	KSCALES \
	VMOVUPS      (DX), Y5 \
	VMULPS       Y5, Y1, Y1 \
	VMULPS       Y3, Y1, Y1 \
	VMOVUPS      Y1, 0(SP) \
	VMULPS       Y5, Y2, Y2 \
	VMULPS       Y4, Y2, Y2 \
	VCVTDQ2PS    (BX), Y6 \
	VFMADD231PS  Y6, Y2, Y13

// Sub-block pair of a chunk of 64: quants (0..31) in Y6 (first 32
// elements) and Y7 (second 32) against activation bytes xoff(DI) and
// xoff+32(DI), each sum scaled by its coefficient from the frame.
#define KPAIR(xoff, clo, chi) \
	I8DOT(xoff(DI), Y6, Y10) \
	I8DOT(xoff+32(DI), Y7, Y11) \
	VCVTDQ2PS    Y10, Y10 \
	VCVTDQ2PS    Y11, Y11 \
	VBROADCASTSS clo(SP), Y8 \
	VBROADCASTSS chi(SP), Y9 \
	VFMADD231PS  Y10, Y8, Y0 \
	VFMADD231PS  Y11, Y9, Y12

// The nibbles of a chunk: 32 bytes at qoff(SI), low nibbles to Y6, high to Y7.
#define NIBBLES(qoff) \
	VMOVDQU qoff(SI), Y6 \
	VPSRLW  $4, Y6, Y7 \
	VPAND   Y14, Y6, Y6 \
	VPAND   Y14, Y7, Y7

// Y0 + Y12 - Y13 summed into X0, returned at off.
#define KRETURN(off) \
	VADDPS       Y12, Y0, Y0 \
	VSUBPS       Y13, Y0, Y0 \
	HSUM \
	VZEROUPPER \
	MOVSS        X0, ret+off(FP) \
	RET

// The arguments of dotQ4K and dotQ5K, and their accumulators zeroed.
#define KPROLOGUE \
	MOVQ   row+0(FP), SI \
	MOVQ   d+8(FP), DX \
	MOVQ   qs+16(FP), DI \
	MOVQ   sum+24(FP), BX \
	MOVQ   nsb+32(FP), CX \
	I8SETUP \
	BYTES($0x0f0f0f0f, Y14) \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y12, Y12, Y12 \
	VXORPS Y13, Y13, Y13

#ifdef NAME_Q4K
// func dotQ4K(row *byte, d *float32, qs *int8, sum *int32, nsb int) float32
// (a build that does not name it has its own: intdot_vnni_amd64.s)
TEXT NAME_Q4K, NOSPLIT, $32-44
	KPROLOGUE

q4kloop:
	TESTQ CX, CX
	JZ    q4kdone
	// 8 super-blocks ahead: decoding streams the rows from memory, faster
	// than the hardware prefetcher fetches them.
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	PREFETCHT0 1280(SI)
	KSETUP
	NIBBLES(16)
	KPAIR(0, 0, 4)
	NIBBLES(48)
	KPAIR(64, 8, 12)
	NIBBLES(80)
	KPAIR(128, 16, 20)
	NIBBLES(112)
	KPAIR(192, 24, 28)
	ADDQ  $144, SI
	ADDQ  $256, DI
	ADDQ  $32, DX
	ADDQ  $32, BX
	DECQ  CX
	JMP   q4kloop

q4kdone:
	KRETURN(40)
#endif

// The fifth bits of a Q5_K chunk: bit 0 of each byte of Y5 (qh, shifted
// down two bits per chunk) goes to bit 4 of Y6, bit 1 to bit 4 of Y7.
// Y3 holds bytes of 0x01, Y4 bytes of 0x02.
#define HIBITS \
	VPAND  Y3, Y5, Y8 \
	VPSLLW $4, Y8, Y8 \
	VPOR   Y8, Y6, Y6 \
	VPAND  Y4, Y5, Y9 \
	VPSLLW $3, Y9, Y9 \
	VPOR   Y9, Y7, Y7 \
	VPSRLW $2, Y5, Y5

// func dotQ5K(row *byte, d *float32, qs *int8, sum *int32, nsb int) float32
TEXT NAME_Q5K, NOSPLIT, $32-44
	KPROLOGUE

q5kloop:
	TESTQ   CX, CX
	JZ      q5kdone
	KSETUP
	BYTES($0x01010101, Y3)
	BYTES($0x02020202, Y4)
	VMOVDQU 16(SI), Y5
	NIBBLES(48)
	HIBITS
	KPAIR(0, 0, 4)
	NIBBLES(80)
	HIBITS
	KPAIR(64, 8, 12)
	NIBBLES(112)
	HIBITS
	KPAIR(128, 16, 20)
	NIBBLES(144)
	HIBITS
	KPAIR(192, 24, 28)
	ADDQ    $176, SI
	ADDQ    $256, DI
	ADDQ    $32, DX
	ADDQ    $32, BX
	DECQ    CX
	JMP     q5kloop

q5kdone:
	KRETURN(40)
