#include "textflag.h"

// The integer kernels with AVX-512 VNNI's VPDPBUSD on 256-bit registers
// (EVEX-encoded, so they need AVX512VL too; see intdot_amd64.h).

#define I8SETUP

#define I8DOT(x, u, dst) \
	VPXOR    dst, dst, dst \
	VPDPBUSD x, u, dst

#define NAME_Q80 ·dotQ80VNNI(SB)
#define NAME_Q40 ·dotQ40VNNI(SB)
#define NAME_Q50 ·dotQ50VNNI(SB)
#define NAME_Q4K ·dotQ4KVNNI(SB)
#define NAME_Q5K ·dotQ5KVNNI(SB)
#define NAME_Q6K ·dotQ6KVNNI(SB)

#include "intdot_amd64.h"
