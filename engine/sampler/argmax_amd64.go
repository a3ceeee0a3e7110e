package sampler

import (
	"os"

	"golang.org/x/sys/cpu"
)

// argmaxAsm turns Argmax's AVX2 passes on (RUNNEL_NOASM=1 turns them off,
// as it does the kernels').
var argmaxAsm = cpu.X86.HasAVX2 && os.Getenv("RUNNEL_NOASM") == ""

// maxAVX2 returns the largest of x[0:n] (n a positive multiple of 32),
// and whether any of them is a NaN (the largest is then meaningless).
//
//go:noescape
func maxAVX2(x *float32, n int) (m float32, nan bool)

// firstEqualAVX2 returns the first i < n (n a multiple of 8) with
// x[i] == m, or n if there is none.
//
//go:noescape
func firstEqualAVX2(x *float32, n int, m float32) int
