package tokenizer

// SPM is a SentencePiece BPE tokenizer: pairs of pieces merge by score, and
// characters outside the vocabulary fall back to byte tokens <0xXX>.
type SPM struct {
	vocab
	runc        bool // encode as llama2.c's run.c does
	spacePrefix bool // add_space_prefix: a dummy space before the text
	spaceID     int32
	byteID      [256]int32
}

const spmSpace = "\u2581" // SentencePiece's visible space "▁"

func (t *SPM) encode(dst []int, text string, bos bool, sp specialMode) []int {
	if bos && t.bos >= 0 {
		dst = append(dst, t.bos)
	}
	s := t.session()
	defer t.pool.Put(s)
	if t.runc {
		return t.encodeRunC(s, dst, text)
	}
	if text == "" { // no fragment, so no dummy prefix either (llama.cpp)
		return dst
	}
	if !t.hasSpecials(sp) {
		return t.encodeRaw(s, dst, text, t.spacePrefix)
	}
	prevSpecial := true
	for _, seg := range t.partition(text, sp) {
		if seg.id >= 0 {
			dst = append(dst, int(seg.id))
			prevSpecial = true
			continue
		}
		dst = t.encodeRaw(s, dst, seg.text, t.spacePrefix && prevSpecial)
		prevSpecial = false
	}
	return dst
}

// encodeRaw tokenizes text as llama.cpp's SentencePiece session: spaces
// become "▁", the text splits into UTF-8 characters (by lead byte, so
// invalid input cannot stall it), pairs merge by score, and what is left
// outside the vocabulary becomes byte tokens.
func (t *SPM) encodeRaw(s *session, dst []int, text string, prefix bool) []int {
	s.buf = s.buf[:0]
	if prefix {
		s.buf = append(s.buf, spmSpace...)
	}
	for i := 0; i < len(text); i++ {
		if text[i] == ' ' {
			s.buf = append(s.buf, spmSpace...)
		} else {
			s.buf = append(s.buf, text[i])
		}
	}
	s.syms = s.syms[:0]
	for i := 0; i < len(s.buf); {
		n := min(utf8Len(s.buf[i]), len(s.buf)-i)
		s.addSymbol(i, i+n, t.lookup(s.buf[i:i+n]))
		i += n
	}
	return t.finish(s, dst)
}

// encodeRunC tokenizes as run.c's encode: a dummy " " token first, then
// each UTF-8 character as its token or, if it has none, as byte tokens
// id = byte+3, then merges of adjacent pieces by score. Merging compares
// the concatenated piece strings, so byte tokens' "<0xXX>" pieces take
// part as their text, just as in run.c.
func (t *SPM) encodeRunC(s *session, dst []int, text string) []int {
	s.buf = s.buf[:0]
	s.syms = s.syms[:0]
	if text != "" && t.spaceID >= 0 {
		s.buf = append(s.buf, ' ')
		s.addSymbol(0, 1, t.spaceID)
	}
	for i := 0; i < len(text); {
		j := i + 1
		for j < len(text) && j-i < 4 && text[j]&0xC0 == 0x80 {
			j++
		}
		start := len(s.buf)
		s.buf = append(s.buf, text[i:j]...)
		if id := t.lookup(s.buf[start:]); id >= 0 {
			s.addSymbol(start, len(s.buf), id)
		} else {
			s.buf = s.buf[:start]
			for k := i; k < j; k++ {
				id := int32(text[k]) + 3
				if int(id) >= len(t.tokens) {
					id = int32(max(t.unk, 0))
				}
				start := len(s.buf)
				s.buf = append(s.buf, t.tokens[id]...)
				s.addSymbol(start, len(s.buf), id)
			}
		}
		i = j
	}
	return t.finish(s, dst)
}

func (t *SPM) finish(s *session, dst []int) []int {
	return s.emit(dst, t.candidate, func(c byte) int32 { return t.byteID[c] })
}

func (t *SPM) candidate(s *session, l, r int32) (bigram, bool) {
	id := t.lookup(s.text(l, r))
	if id < 0 {
		return bigram{}, false
	}
	if t.runc && !(t.scores[id] > -1e10) { // run.c's starting best_score (and NaN)
		return bigram{}, false
	}
	return bigram{prio: spmPrio(t.scores[id], 0), id: id}, true
}

// utf8Len is the length of the UTF-8 sequence a byte starts, judged by its
// high bits only (1 for continuation bytes), as llama.cpp splits text.
func utf8Len(c byte) int {
	return [16]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[c>>4]
}
