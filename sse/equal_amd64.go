package sse

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hasAVX2 says equalPairAsm may compare 32 bytes a step (read by it).
var hasAVX2 = cpu.X86.HasAVX2

//go:noescape
func equalPairAsm(a, b *byte, n int, c, d *byte, m int) bool

// equalPair reports whether a begins with x and b with y: NextShaped's
// two compares in one call (see equal_amd64.s). a and b are at least
// as long as x and y.
func equalPair(a, x, b, y []byte) bool {
	return equalPairAsm(unsafe.SliceData(a), unsafe.SliceData(x), len(x), unsafe.SliceData(b), unsafe.SliceData(y), len(y))
}
