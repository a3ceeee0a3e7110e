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
func matchPlainAsm(b *byte, n, i, from int, head *byte, hn int, tail *byte, tn int) int

// matchPlain is the end of the JSON-plain run (printable ASCII but the
// quote and the backslash) at b[from:] when it is not empty, the tail
// follows it whole and b holds head at i and tail after the run; else
// -1. from is i+len(head), at most len(b). NextShaped's run with no
// table, found 16 bytes a step, and its compares in one call (see
// equal_amd64.s).
func matchPlain(b []byte, i, from int, head, tail []byte) int {
	return matchPlainAsm(unsafe.SliceData(b), len(b), i, from, unsafe.SliceData(head), len(head), unsafe.SliceData(tail), len(tail))
}

//go:noescape
func matchShapeAsm(b *byte, n, i int, sh *Shape) int

// matchShape is matchPlain for sh's head at b[i:] and its tail (from
// i+len(sh.head)), -1 also when b is shorter than that: NextShaped's
// token case, its arguments fewer (see equal_amd64.s).
func matchShape(b []byte, i int, sh *Shape) int {
	return matchShapeAsm(unsafe.SliceData(b), len(b), i, sh)
}
