//go:build !amd64

package sse

// equalPair reports whether a begins with x and b with y.
func equalPair(a, x, b, y []byte) bool { return equalPairGo(a, x, b, y) }

// matchPlain is matchPlainGo.
func matchPlain(b []byte, i, from int, head, tail []byte) int {
	return matchPlainGo(b, i, from, head, tail)
}

// matchShape is matchPlain for sh's head at b[i:] and its tail.
func matchShape(b []byte, i int, sh *Shape) int {
	if len(b) < i+len(sh.head) {
		return -1
	}
	return matchPlainGo(b, i, i+len(sh.head), sh.head, sh.tail)
}
