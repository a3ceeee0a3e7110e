package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/runnel/runnel/engine/gguf"
)

// BPE is a byte-level BPE tokenizer (GPT-2 style): text is split into words
// by a pre-tokenizer, each word's bytes are mapped to printable characters,
// and adjacent pairs merge in the order of the merge list.
type BPE struct {
	vocab
	pre   string
	split splitter
	// ignoreMerges: a word that is a token is that token, whatever the
	// merges would make of it (Llama 3).
	ignoreMerges bool
	ranks        map[string]int32 // left + "\xff" + right → merge rank
	enc          [256]string      // byte → its printable character
}

func newBPE(f *gguf.File, v vocab) (*BPE, error) {
	pre := "default"
	if f.Has("tokenizer.ggml.pre") {
		var err error
		if pre, err = f.String("tokenizer.ggml.pre"); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	split, ok := pretokenizers[pre]
	if !ok {
		return nil, fmt.Errorf("tokenizer: gpt2 vocabulary: pre-tokenizer %q is not supported", pre)
	}
	merges, err := f.Strings("tokenizer.ggml.merges")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: gpt2 vocabulary: %w", err)
	}
	t := &BPE{vocab: v, pre: pre, split: split, ranks: make(map[string]int32, len(merges))}
	t.encodeFunc = t.encode
	t.ignoreMerges = ignoreMerges[pre]
	t.addBOS = addBOS[pre]
	for i, m := range merges {
		sp := -1
		if len(m) > 1 {
			sp = strings.IndexByte(m[1:], ' ')
		}
		if sp < 0 {
			return nil, fmt.Errorf("tokenizer: gpt2 vocabulary: merge %d %q has no space", i, m)
		}
		sp++
		key := m[:sp] + "\xff" + m[sp+1:]
		if _, dup := t.ranks[key]; !dup {
			t.ranks[key] = int32(i)
		}
	}
	dec := map[rune]byte{}
	for b, r := range byteRunes() {
		t.enc[b] = string(r)
		dec[r] = byte(b)
	}
	t.pieces = make([]string, len(t.tokens))
	for i, s := range t.tokens {
		switch t.tokenType(i) {
		case typeUserDefined: // added tokens are stored as plain text
			t.pieces[i] = s
		case typeNormal:
			var p []byte
			for _, r := range s {
				if b, ok := dec[r]; ok {
					p = append(p, b)
				} else {
					p = utf8.AppendRune(p, r)
				}
			}
			t.pieces[i] = string(p)
		case typeByte:
			if b, ok := parseByteToken(s); ok {
				t.pieces[i] = string([]byte{b})
			}
		}
	}
	return t, nil
}

// byteRunes is GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for
// themselves, the others for the code points from U+0100 on, in order.
func byteRunes() [256]rune {
	var m [256]rune
	n := rune(0)
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			m[b] = rune(b)
		} else {
			m[b] = 256 + n
			n++
		}
	}
	return m
}

func (t *BPE) encode(dst []int, text string, bos bool, sp specialMode) []int {
	if bos && t.bos >= 0 {
		dst = append(dst, t.bos)
	}
	s := t.session()
	defer t.pool.Put(s)
	if !t.hasSpecials(sp) {
		return t.encodeRaw(s, dst, text)
	}
	for _, seg := range t.partition(text, sp) {
		if seg.id >= 0 {
			dst = append(dst, int(seg.id))
		} else {
			dst = t.encodeRaw(s, dst, seg.text)
		}
	}
	return dst
}

func (t *BPE) encodeRaw(s *session, dst []int, text string) []int {
	s.cps = decodeRunes(s.cps[:0], text)
	s.pre = t.split(s.cps, s.pre[:0])
	start := int32(0)
	var word [utf8.UTFMax]byte
	for _, end := range s.pre {
		s.buf = s.buf[:0]
		s.syms = s.syms[:0]
		for _, r := range s.cps[start:end] {
			for _, b := range word[:utf8.EncodeRune(word[:], r)] {
				i := len(s.buf)
				s.buf = append(s.buf, t.enc[b]...)
				s.addSymbol(i, len(s.buf), t.lookup(s.buf[i:]))
			}
		}
		start = end
		if len(s.syms) == 0 {
			continue
		}
		if t.ignoreMerges {
			if id := t.lookup(s.buf); id >= 0 {
				dst = append(dst, int(id))
				continue
			}
		}
		// A merge outside the vocabulary leaves, as in llama.cpp, the
		// bytes of its text that happen to be tokens on their own.
		dst = s.emit(dst, t.candidate, func(c byte) int32 { return t.lookup([]byte{c}) })
	}
	return dst
}

func (t *BPE) candidate(s *session, l, r int32) (bigram, bool) {
	a, b := s.syms[l], s.syms[r]
	s.key = append(append(append(s.key[:0], s.buf[a.start:a.start+a.n]...), 0xff), s.buf[b.start:b.start+b.n]...)
	rank, ok := t.ranks[string(s.key)]
	if !ok {
		return bigram{}, false
	}
	return bigram{prio: bpePrio(rank, 0), id: t.lookup(s.text(l, r))}, true
}

// decodeRunes decodes text as llama.cpp does: each byte that does not start
// a well-formed sequence (judged by its bit pattern) becomes U+FFFD.
func decodeRunes(dst []rune, text string) []rune {
	for i := 0; i < len(text); {
		c := text[i]
		n := 0
		switch {
		case c < 0x80:
			dst = append(dst, rune(c))
			i++
			continue
		case c&0x40 == 0:
		case c&0x20 == 0:
			n = 2
		case c&0x10 == 0:
			n = 3
		case c&0x08 == 0:
			n = 4
		}
		ok := n > 0 && i+n <= len(text)
		for k := 1; ok && k < n; k++ {
			ok = text[i+k]&0xC0 == 0x80
		}
		if !ok {
			dst = append(dst, utf8.RuneError)
			i++
			continue
		}
		r := rune(c) & (0x7F >> n)
		for k := 1; k < n; k++ {
			r = r<<6 | rune(text[i+k]&0x3F)
		}
		dst = append(dst, r)
		i += n
	}
	return dst
}
