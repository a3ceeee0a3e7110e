// Package prefetch asks the CPU to bring memory into its caches ahead of
// use. A stream's per-call state is cold each time its next token wakes
// it (hundreds of other streams ran since, on either core): touched layer
// by layer, its lines are misses paid one after another, each at the
// next locked instruction; prefetched together when the stream wakes,
// they are paid at once (docs/benchmarks.md, issue 13, prefetch session).
//
// A prefetch is a hint: it never faults, whatever the address, and
// changes nothing a program can observe but its timing. On architectures
// without an implementation here it does nothing. Lines come in for
// reading (PREFETCHT0): asking for them exclusive (PREFETCHW), though the
// meter's and the writer's are written, cost more CPU a token than it
// saved (docs/benchmarks.md).
package prefetch

import (
	"math"
	"slices"
	"unsafe"
)

// Range prefetches the cache lines of the n bytes at p.
func Range(p unsafe.Pointer, n uintptr) {
	if n > 0 {
		lines(uintptr(p), n)
	}
}

// Addr is Range for an address held as an integer: one kept without a
// pointer's costs (a write barrier), or computed before it is known to
// point to live memory (a prefetch need not).
func Addr(p, n uintptr) {
	if n > 0 {
		lines(p, n)
	}
}

// Offsets is offs (unsafe.Offsetof values, each under 64 KiB) in
// increasing order, as Fields takes them: for a table made once, at
// start.
func Offsets(offs ...uintptr) []uint16 {
	slices.Sort(offs)
	out := make([]uint16, len(offs))
	for i, o := range offs {
		if o > math.MaxUint16 {
			panic("prefetch: offset past 64 KiB")
		}
		out[i] = uint16(o)
	}
	return out
}

// Fields prefetches the line of the byte at base+off for each of offs,
// which are in increasing order: the few fields a token touches in a
// larger object, each line once. base is an address as Addr's.
func Fields(base uintptr, offs []uint16) {
	if len(offs) > 0 {
		fields(base, unsafe.SliceData(offs), len(offs))
	}
}
