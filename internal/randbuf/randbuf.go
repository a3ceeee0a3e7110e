// Package randbuf hands out random bytes from crypto/rand read a block at
// a time. Every request gets an id (server) and every call one more
// (gateway); read one at a time, each was a getrandom call of its own,
// about 0.1–0.5 µs here and a system call where the vDSO cannot serve it
// (docs/benchmarks.md, issue 13, ttft session). Each byte is handed out
// once, and cleared from the block as it is.
package randbuf

import (
	"crypto/rand"
	"sync"
)

// block is how many bytes one crypto/rand read fetches.
const block = 4096

var (
	mu  sync.Mutex
	buf [block]byte
	off = block // nothing read yet
)

// Read fills b with random bytes from crypto/rand. Reads of more than a
// small part of a block go to crypto/rand directly.
func Read(b []byte) {
	if len(b) > block/16 {
		rand.Read(b)
		return
	}
	mu.Lock()
	if off+len(b) > block {
		rand.Read(buf[:])
		off = 0
	}
	n := copy(b, buf[off:])
	clear(buf[off : off+n])
	off += n
	mu.Unlock()
}
