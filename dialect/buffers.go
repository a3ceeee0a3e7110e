package dialect

import "sync"

// Request bodies, the client's read whole and the upstream's encoded,
// are garbage once decoded or sent, and a long prompt makes each several
// KiB a call: made afresh per call, they kept an open stream's process
// about two prompts' worth of RSS above a proxy's until the next
// collection (docs/benchmarks.md, issue 13, longprompt session). They are
// taken from these pools instead, by size class, and given back.

// bufferSizes are the classes: 1 KiB to 1 MiB in steps of a half and a
// third (a body takes at most half as much again as it needs); longer
// bodies are rare, and not pooled. (A pool keeps what it is given for
// two collections at most.)
var bufferSizes = [...]int{
	1 << 10, 3 << 9, 2 << 10, 3 << 10, 4 << 10, 6 << 10, 8 << 10, 12 << 10, 16 << 10, 24 << 10, 32 << 10, 48 << 10,
	64 << 10, 96 << 10, 128 << 10, 192 << 10, 256 << 10, 384 << 10, 512 << 10, 768 << 10, 1 << 20,
}

var bufferPools [len(bufferSizes)]sync.Pool // of *[]byte

// GetBuffer returns an empty buffer with room for at least n bytes, from
// the pool when n is within its sizes. Give it back with PutBuffer.
func GetBuffer(n int) *[]byte {
	c := bufferClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if p, _ := bufferPools[c].Get().(*[]byte); p != nil {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, bufferSizes[c])
	return &b
}

// PutBuffer gives p back for another GetBuffer (whatever its origin: a
// buffer grown by append joins the largest class its capacity fills).
// Nothing may use *p after.
func PutBuffer(p *[]byte) {
	n := cap(*p)
	if n < bufferSizes[0] || n > bufferSizes[len(bufferSizes)-1] {
		return
	}
	c := len(bufferSizes) - 1
	for bufferSizes[c] > n {
		c--
	}
	*p = (*p)[:0]
	bufferPools[c].Put(p)
}

// bufferClass is the smallest class holding n bytes, or -1 for n over
// the largest.
func bufferClass(n int) int {
	for c, size := range bufferSizes {
		if n <= size {
			return c
		}
	}
	return -1
}
