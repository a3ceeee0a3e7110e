#include "textflag.h"

// func equalPairAsm(a, b *byte, n int, c, d *byte, m int) bool
// Reports whether a[:n] == b[:n] and c[:m] == d[:m]: NextShaped's two
// compares in one call, where two memequal calls each ran 8 bytes a step
// below 64 bytes. From 32 bytes up, 32 a step with AVX2 (16 without),
// then the last 32 (16) overlapping what was compared; below 32, two
// overlapping loads of 16, 8 or 4 bytes, or the bytes one by one. The
// short paths use SSE2 only, after a VZEROUPPER; the common paths come
// first, in few cache lines.
TEXT ·equalPairAsm(SB), NOSPLIT, $0-49
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	MOVQ c+24(FP), R8
	MOVQ d+32(FP), R9
	MOVQ m+40(FP), R10
	XORL R11, R11 // the pairs done

pair:
	CMPQ BX, $32
	JB   below32
	LEAQ -32(BX), DX // the last block's offset
	CMPB ·hasAVX2(SB), $0
	JE   sse32
	VMOVDQU  (SI), Y2
	VPCMPEQB (DI), Y2, Y2 // the blocks' equal bytes, ANDed
	MOVL     $32, CX
	CMPQ     CX, DX
	JAE      last32

loop32:
	VMOVDQU  (SI)(CX*1), Y0
	VPCMPEQB (DI)(CX*1), Y0, Y0
	VPAND    Y0, Y2, Y2
	ADDQ     $32, CX
	CMPQ     CX, DX
	JB       loop32

last32:
	VMOVDQU  (SI)(DX*1), Y0
	VPCMPEQB (DI)(DX*1), Y0, Y0
	VPAND    Y0, Y2, Y2
	VPMOVMSKB Y2, AX
	VZEROUPPER
	INCL     AX // 0xffffffff: every byte equal
	JNZ      differ

next:
	TESTL R11, R11
	JNZ   equal
	INCL  R11
	MOVQ  R8, SI
	MOVQ  R9, DI
	MOVQ  R10, BX
	JMP   pair

equal:
	MOVB $1, ret+48(FP)
	RET

below32:
	CMPQ BX, $8
	JB   below8
	CMPQ BX, $16
	JB   below16
	MOVOU    (SI), X0
	MOVOU    (DI), X1
	PCMPEQB  X1, X0
	MOVOU    -16(SI)(BX*1), X2
	MOVOU    -16(DI)(BX*1), X3
	PCMPEQB  X3, X2
	PAND     X2, X0
	PMOVMSKB X0, AX
	CMPL     AX, $0xffff
	JNE      differ
	JMP      next

below16:
	MOVQ (SI), AX
	XORQ (DI), AX
	MOVQ -8(SI)(BX*1), CX
	XORQ -8(DI)(BX*1), CX
	ORQ  CX, AX
	JNZ  differ
	JMP  next

below8:
	CMPQ BX, $4
	JB   below4
	MOVL (SI), AX
	XORL (DI), AX
	MOVL -4(SI)(BX*1), CX
	XORL -4(DI)(BX*1), CX
	ORL  CX, AX
	JNZ  differ
	JMP  next

below4:
	TESTQ BX, BX
	JZ    next
	// 1 to 3 bytes: the first, the middle and the last cover them.
	MOVBLZX (SI), AX
	CMPB    AX, (DI)
	JNE     differ
	MOVQ    BX, CX
	SHRQ    $1, CX
	MOVBLZX (SI)(CX*1), AX
	CMPB    AX, (DI)(CX*1)
	JNE     differ
	MOVBLZX -1(SI)(BX*1), AX
	CMPB    AX, -1(DI)(BX*1)
	JNE     differ
	JMP     next

sse32:
	// No AVX2: 16 bytes a step, then the last 16.
	ADDQ  $16, DX
	XORQ  CX, CX

loop16:
	MOVOU    (SI)(CX*1), X0
	MOVOU    (DI)(CX*1), X1
	PCMPEQB  X1, X0
	PMOVMSKB X0, AX
	CMPL     AX, $0xffff
	JNE      differ
	ADDQ     $16, CX
	CMPQ     CX, DX
	JB       loop16
	MOVOU    (SI)(DX*1), X0
	MOVOU    (DI)(DX*1), X1
	PCMPEQB  X1, X0
	PMOVMSKB X0, AX
	CMPL     AX, $0xffff
	JNE      differ
	JMP      next

differ:
	MOVB $0, ret+48(FP)
	RET
