#include "textflag.h"

// The integer kernels with AVX2's VPMADDUBSW and VPMADDWD (see intdot_amd64.h).

#define I8SETUP \
	MOVL         $0x00010001, AX \
	VMOVD        AX, X15 \
	VPBROADCASTD X15, Y15

#define I8DOT(x, u, dst) \
	VPMADDUBSW x, u, dst \
	VPMADDWD   Y15, dst, dst

#define NAME_Q80 ·dotQ80AVX2(SB)
#define NAME_Q40 ·dotQ40AVX2(SB)
#define NAME_Q50 ·dotQ50AVX2(SB)
#define NAME_Q80X2 ·dotQ80x2AVX2(SB)
#define NAME_Q50X2 ·dotQ50x2AVX2(SB)

#include "intdot_amd64.h"
#include "introws_amd64.h"
