//go:build !amd64

package sse

// equalPair reports whether a begins with x and b with y.
func equalPair(a, x, b, y []byte) bool { return equalPairGo(a, x, b, y) }

// matchPlain is matchPlainGo of e's head at i and tail, -1 when b is
// shorter than the head.
func matchPlain(b []byte, i int, e *ends) int {
	if len(b) < i+len(e.head) {
		return -1
	}
	return matchPlainGo(b, i, i+len(e.head), e.head, e.tail)
}
