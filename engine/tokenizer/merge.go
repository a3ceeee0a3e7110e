package tokenizer

import "math"

// symbol is a run of bytes buf[start:start+n] in a merge session, linked to
// its neighbours; merged-away symbols have n == 0.
type symbol struct {
	start, n   int32
	prev, next int32
	id         int32 // the token the bytes spell, or -1
}

// bigram is a candidate merge of two adjacent symbols. prio orders the
// queue, lowest first: see spmPrio and bpePrio.
type bigram struct {
	prio        uint64
	left, right int32
	size        int32
	id          int32
}

// session is the scratch space of one Encode call, pooled so encoding a
// prompt allocates little beyond its result.
type session struct {
	buf  []byte
	syms []symbol
	heap []bigram
	key  []byte
	pre  []int32 // pre-tokenizer: word ends in cps
	cps  []rune
}

// spmPrio orders SentencePiece merges: higher score first, then the
// leftmost pair, the order of run.c's scan and llama.cpp's queue.
func spmPrio(score float32, left int32) uint64 {
	// Map the float's bits to an unsigned key that sorts the same way,
	// then invert it so higher scores come first.
	if score == 0 {
		score = 0 // -0 and +0 tie, as they compare
	}
	u := math.Float32bits(score)
	if u&(1<<31) != 0 {
		u = ^u
	} else {
		u |= 1 << 31
	}
	return uint64(^u)<<32 | uint64(uint32(left))
}

// bpePrio orders BPE merges: lower rank first, then the leftmost pair.
func bpePrio(rank, left int32) uint64 { return uint64(uint32(rank))<<32 | uint64(uint32(left)) }

func (s *session) push(b bigram) {
	h := append(s.heap, b)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].prio <= b.prio {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = b
	s.heap = h
}

func (s *session) pop() bigram {
	h := s.heap
	top := h[0]
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].prio < h[c].prio {
			c = r
		}
		if last.prio <= h[c].prio {
			break
		}
		h[i] = h[c]
		i = c
	}
	if n > 0 {
		h[i] = last
	}
	s.heap = h
	return top
}

// addSymbol appends a symbol for buf[start:end].
func (s *session) addSymbol(start, end int, id int32) {
	i := int32(len(s.syms))
	s.syms = append(s.syms, symbol{start: int32(start), n: int32(end - start), prev: i - 1, next: i + 1, id: id})
}

// link ends the symbol chain built by addSymbol.
func (s *session) link() {
	if n := len(s.syms); n > 0 {
		s.syms[n-1].next = -1
	}
}

// merge repeatedly merges the best pair that candidate proposes, as long as
// any: the loop shared by SentencePiece BPE (by score) and byte-level BPE
// (by rank). candidate returns false for pairs that never merge.
func (s *session) merge(candidate func(s *session, left, right int32) (bigram, bool)) {
	s.heap = s.heap[:0]
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		if b, ok := candidate(s, l, r); ok {
			b.prio |= uint64(uint32(l)) // candidates set the high half
			b.left, b.right = l, r
			b.size = s.syms[l].n + s.syms[r].n
			s.push(b)
		}
	}
	for i := 1; i < len(s.syms); i++ {
		try(int32(i-1), int32(i))
	}
	for len(s.heap) > 0 {
		b := s.pop()
		l, r := &s.syms[b.left], &s.syms[b.right]
		// Skip pairs outdated by an earlier merge.
		if l.n == 0 || r.n == 0 || l.next != b.right || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		l.id = b.id
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			s.syms[r.next].prev = b.left
		}
		try(l.prev, b.left)
		try(b.left, l.next)
	}
}

// text returns the bytes of symbols l and r together (they are adjacent in
// buf).
func (s *session) text(l, r int32) []byte {
	a := s.syms[l]
	return s.buf[a.start : a.start+a.n+s.syms[r].n]
}

// emit merges the session's symbols and appends their tokens to dst. A
// symbol that is no token gives, for each of its bytes, the token fallback
// returns, if any (>= 0).
func (s *session) emit(dst []int, candidate func(s *session, left, right int32) (bigram, bool), fallback func(byte) int32) []int {
	if len(s.syms) == 0 {
		return dst
	}
	s.link()
	s.merge(candidate)
	for i := int32(0); i != -1; i = s.syms[i].next {
		sym := s.syms[i]
		if sym.id >= 0 {
			dst = append(dst, int(sym.id))
			continue
		}
		for _, c := range s.buf[sym.start : sym.start+sym.n] {
			if id := fallback(c); id >= 0 {
				dst = append(dst, int(id))
			}
		}
	}
	return dst
}
