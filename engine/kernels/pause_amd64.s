#include "textflag.h"

// func spinPause()
// A few PAUSEs: tells the core this is a spin-wait (saves power, yields
// the pipeline to a hyperthread sibling) and spaces out the polls.
TEXT ·spinPause(SB), NOSPLIT, $0-0
	MOVL $8, CX

pauseloop:
	PAUSE
	DECL CX
	JNZ  pauseloop
	RET
