package sse

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hasAVX2 says the assembly's pairs may compare 32 bytes a step (read
// there).
var hasAVX2 = cpu.X86.HasAVX2

//go:noescape
func equalPairAsm(a, b *byte, n int, c, d *byte, m int) bool

// equalPair reports whether a begins with x and b with y: matchRun's
// two compares in one call (see equal_amd64.s). a and b are at least
// as long as x and y.
func equalPair(a, x, b, y []byte) bool {
	return equalPairAsm(unsafe.SliceData(a), unsafe.SliceData(x), len(x), unsafe.SliceData(b), unsafe.SliceData(y), len(y))
}

//go:noescape
func matchAsm(b *byte, n, i int, e *ends) int

// matchPlain is the end of the JSON-plain run (printable ASCII but the
// quote and the backslash) at b[from:], from i+len(e.head), when it is
// not empty, the tail follows it whole and b holds e.head at i and
// e.tail after the run; else -1 (also when b is shorter than from).
// NextShaped's run with no table, found 16 bytes a step, and its
// compares in one call (see equal_amd64.s).
func matchPlain(b []byte, i int, e *ends) int {
	return matchAsm(unsafe.SliceData(b), len(b), i, e)
}
