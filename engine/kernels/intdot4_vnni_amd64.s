#include "textflag.h"

// dotQ80x4 with AVX-512 VNNI's VPDPBUSD (see intdot4_amd64.h).

#define I8SETUP

#define I8DOT(x, u, dst) \
	VPXOR    dst, dst, dst \
	VPDPBUSD x, u, dst

#define NAME_Q80X4 ·dotQ80x4VNNI(SB)

#include "intdot4_ops_amd64.h"
#include "intdot4_amd64.h"
