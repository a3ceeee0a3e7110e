#include "go_asm.h"
#include "textflag.h"

// func equalPairAsm(a, b *byte, n int, c, d *byte, m int) bool
// Reports whether a[:n] == b[:n] and c[:m] == d[:m] (pairs).
TEXT ·equalPairAsm(SB), NOSPLIT, $0-49
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), BX
	MOVQ c+24(FP), R8
	MOVQ d+32(FP), R9
	MOVQ m+40(FP), R10
	CALL pairs<>(SB)
	MOVB AX, ret+48(FP)
	RET

// pairs reports in AX whether SI[:BX] == DI[:BX] and R8[:R10] ==
// R9[:R10]: a shaped event's two compares in one call, where two memequal
// calls each ran 8 bytes a step below 64 bytes. From 32 bytes up, 32 a
// step with AVX2 (16 without), then the last 32 (16) overlapping what
// was compared; below 32, two overlapping loads of 16, 8 or 4 bytes, or
// the bytes one by one. The short paths use SSE2 only, after a
// VZEROUPPER; the common paths come first, in few cache lines.
TEXT pairs<>(SB), NOSPLIT, $0-0
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
	MOVL $1, AX
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
	XORL AX, AX
	RET

// NOTPLAIN sets AX's low 16 bits to those of the 16 bytes at (SI)(at*1)
// that are not JSON-plain, X1 to X3 holding plainBytes: printable is
// above 0x1f (signed), then not the quote nor the backslash.
#define NOTPLAIN(at) \
	MOVOU    (SI)(at*1), X0 \
	MOVO     X0, X4 \
	PCMPGTB  X1, X4 \
	MOVO     X0, X5 \
	PCMPEQB  X2, X5 \
	PCMPEQB  X3, X0 \
	POR      X5, X0 \
	PANDN    X4, X0 \
	PMOVMSKB X0, AX \
	XORL     $0xffff, AX

// The bytes matchAsm compares a block of 16 with: printable ASCII is
// above 0x1f (signed), then the quote and the backslash.
DATA plainBytes<>+0(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA plainBytes<>+8(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA plainBytes<>+16(SB)/8, $0x2222222222222222
DATA plainBytes<>+24(SB)/8, $0x2222222222222222
DATA plainBytes<>+32(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA plainBytes<>+40(SB)/8, $0x5c5c5c5c5c5c5c5c
GLOBL plainBytes<>(SB), RODATA|NOPTR, $48

// func matchAsm(b *byte, n, i int, e *ends) int
// The end j of the JSON-plain run (printable ASCII but the quote and
// the backslash) at b[from:], from i+len(e.head), when it is not empty,
// b[j:] holds len(e.tail) bytes more, b[i:from] == e.head and b[j:] begins
// with e.tail; else -1 (also when from is past n). The run is found 16
// bytes a step (SSE2): no byte outside b[:n] is read (the last block is
// the 16 bytes ending at n, the bits before from dropped; a b of fewer
// than 16 bytes is looked at byte by byte). Then both compares (pairs).
// Four arguments, e read here: eight took NextShaped some 70 bytes of
// stores and reloads around the call (docs/benchmarks.md, issue 13,
// tokfoot2 session).
TEXT ·matchAsm(SB), NOSPLIT, $0-40
	MOVQ e+24(FP), AX
	MOVQ b+0(FP), SI
	MOVQ n+8(FP), BX
	MOVQ i+16(FP), R11
	MOVQ ends_head(AX), DI
	MOVQ (ends_head+8)(AX), R12 // len(head)
	MOVQ ends_tail(AX), R9
	MOVQ (ends_tail+8)(AX), R10 // len(tail)
	LEAQ (R11)(R12*1), CX // from
	CMPQ CX, BX
	JA   nomatch
	MOVQ CX, R13
	CMPQ BX, $16
	JB   bytes
	MOVOU plainBytes<>+0(SB), X1
	MOVOU plainBytes<>+16(SB), X2
	MOVOU plainBytes<>+32(SB), X3

blocks:
	LEAQ 16(CX), DX
	CMPQ DX, BX
	JA   last
	NOTPLAIN(CX)
	JNZ      found
	MOVQ     DX, CX
	JMP      blocks

found:
	BSFL AX, AX
	ADDQ CX, AX // j

ran:
	CMPQ AX, R13
	JEQ  nomatch // no run
	LEAQ (AX)(R10*1), DX
	CMPQ DX, BX
	JA   nomatch // the tail is not all here
	MOVQ AX, R13 // j
	LEAQ (SI)(AX*1), R8
	ADDQ R11, SI
	MOVQ R12, BX
	CALL pairs<>(SB)
	TESTL AX, AX
	JZ   nomatch
	MOVQ R13, ret+32(FP)
	RET

last:
	CMPQ CX, BX
	JAE  whole
	LEAQ -16(BX), DX
	NOTPLAIN(DX)
	MOVQ     CX, R8
	SUBQ     DX, CX // the bytes before from, dropped
	SHRL     CX, AX
	TESTL    AX, AX
	JZ       whole
	BSFL     AX, AX
	ADDQ     R8, AX
	JMP      ran

whole:
	MOVQ BX, AX // the run ends at n
	JMP  ran

bytes:
	CMPQ    CX, BX
	JAE     whole
	MOVBLZX (SI)(CX*1), AX
	CMPB    AX, $0x20
	JB      stop
	CMPB    AX, $0x7f
	JA      stop
	CMPB    AX, $0x22
	JE      stop
	CMPB    AX, $0x5c
	JE      stop
	INCQ    CX
	JMP     bytes

stop:
	MOVQ CX, AX
	JMP  ran

nomatch:
	MOVQ $-1, ret+32(FP)
	RET
