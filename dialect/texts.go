package dialect

import (
	"strings"
	"unsafe"
)

// Texts copies a stream's short strings (a token's text, parsed out of an
// upstream event the reader reuses) into shared blocks instead of an
// allocation each: the bytes are appended one after the other and never
// written over, and a full block is left to the strings that point into
// it. Its zero value is ready; one Texts serves one stream.
type Texts struct{ buf []byte }

// textsBlock is the size of a Texts block: about forty tokens an
// allocation, and little for an open stream to keep.
const textsBlock = 256

// Keep returns a copy of s that does not point into s's storage.
func (t *Texts) Keep(s string) string {
	if len(s) > textsBlock/4 {
		return strings.Clone(s)
	}
	if cap(t.buf)-len(t.buf) < len(s) {
		t.buf = make([]byte, 0, textsBlock)
	}
	n := len(t.buf)
	t.buf = append(t.buf, s...)
	return unsafe.String(unsafe.SliceData(t.buf[n:]), len(s))
}
