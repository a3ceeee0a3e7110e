#include "textflag.h"

// func lines(p, n uintptr)
TEXT ·lines(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX     // the end
	ANDQ $~63, AX   // the first line
loop:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	CMPQ AX, CX
	JB   loop
	RET

// func fields(base uintptr, offs *uint16, n int)
TEXT ·fields(SB), NOSPLIT, $0-24
	MOVQ base+0(FP), BX
	MOVQ offs+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ $-1, DI     // the last line prefetched
loop:
	MOVWQZX (SI), AX
	ADDQ BX, AX
	ANDQ $~63, AX
	CMPQ AX, DI
	JEQ  next
	MOVQ AX, DI
	PREFETCHT0 (AX)
next:
	ADDQ $2, SI
	DECQ CX
	JNZ  loop
	RET
