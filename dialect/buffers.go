package dialect

import (
	"math/bits"
	"sync"
)

// Request bodies, the client's read whole and the upstream's encoded,
// are garbage once decoded or sent, and a long prompt makes each several
// KiB a call: made afresh per call, they kept an open stream's process
// about two prompts' worth of RSS above a proxy's until the next
// collection (docs/benchmarks.md, issue 13, longprompt session). They are
// taken from these pools instead, by size class, and given back.

// The classes run from 1 KiB to 1 MiB, eight a doubling: a body takes at
// most an eighth more than it needs. A burst of calls holds a body each
// while their upstream connections are dialled, more than the pools
// hold, and the memory such a burst takes is that of the classes: with
// two classes a doubling an 8 KiB prompt's body took 12 KiB
// (docs/benchmarks.md, issue 13, bodypool session). Longer bodies are
// rare, and not pooled. (A pool keeps what it is given for two
// collections at most.)
const (
	minBufferShift = 10 // 1 KiB, class 0
	maxBuffer      = 1 << 20
	classesPerTwo  = 8
	bufferClasses  = (20-minBufferShift)*classesPerTwo + 1
)

var bufferPools [bufferClasses]sync.Pool // of *[]byte

// GetBuffer returns an empty buffer with room for at least n bytes, from
// the pool when n is within its sizes. Give it back with PutBuffer.
func GetBuffer(n int) *[]byte {
	c := bufferClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	// The next class up serves too, at most a quarter more than n needs:
	// bodies of many lengths share the pools.
	for k := c; k <= c+1 && k < bufferClasses; k++ {
		if p, _ := bufferPools[k].Get().(*[]byte); p != nil {
			*p = (*p)[:0]
			return p
		}
	}
	b := make([]byte, 0, classSize(c))
	return &b
}

// PutBuffer gives p back for another GetBuffer (whatever its origin: a
// buffer grown by append joins the largest class its capacity fills).
// Nothing may use *p after.
func PutBuffer(p *[]byte) {
	n := cap(*p)
	if n < 1<<minBufferShift || n > maxBuffer {
		return
	}
	c := bufferClass(n)
	if classSize(c) > n {
		c--
	}
	*p = (*p)[:0]
	bufferPools[c].Put(p)
}

// bufferClass is the smallest class holding n bytes, or -1 for n over
// the largest: the doubling below n, and which eighth of it.
func bufferClass(n int) int {
	if n <= 1<<minBufferShift {
		return 0
	}
	if n > maxBuffer {
		return -1
	}
	e := bits.Len(uint(n-1)) - 1 // 2^e <= n-1 < 2^(e+1)
	step := (n - 1) >> (e - 3) & (classesPerTwo - 1)
	return (e-minBufferShift)*classesPerTwo + step + 1
}

// classSize is class c's size.
func classSize(c int) int {
	if c == 0 {
		return 1 << minBufferShift
	}
	c--
	e := c/classesPerTwo + minBufferShift
	return 1<<e + (c%classesPerTwo+1)<<(e-3)
}
