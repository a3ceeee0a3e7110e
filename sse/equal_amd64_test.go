package sse

import "golang.org/x/sys/cpu"

// hasAVX2Able says the machine can run equalPairAsm's AVX2 path.
var hasAVX2Able = cpu.X86.HasAVX2

// setAVX2 sets hasAVX2 (for a test of both paths) and returns what it was.
func setAVX2(on bool) bool { was := hasAVX2; hasAVX2 = on; return was }
