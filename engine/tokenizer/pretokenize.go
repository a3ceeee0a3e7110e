package tokenizer

import "unicode"

// Character classes of the pre-tokenizer expressions. A code point beyond
// the text has none; one inside always has cpValid.
const (
	cpValid = 1 << iota
	cpLetter
	cpNumber
	cpSpace
)

func classAt(cps []rune, i int) uint8 {
	if i < 0 || i >= len(cps) {
		return 0
	}
	return classOf(cps[i])
}

func classOf(r rune) uint8 {
	c := uint8(cpValid)
	switch {
	case r < 0x80:
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			c |= cpLetter
		case r >= '0' && r <= '9':
			c |= cpNumber
		case r == ' ', r >= '\t' && r <= '\r':
			c |= cpSpace
		}
	case unicode.IsLetter(r):
		c |= cpLetter
	case unicode.IsNumber(r):
		c |= cpNumber
	case unicode.IsSpace(r): // the White_Space property, as \s
		c |= cpSpace
	}
	return c
}

// splitGPT2 splits cps into words by GPT-2's expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// appending the end of each word to ends. Go's regexp has no lookahead, so
// the expression is matched by hand, alternative by alternative.
func splitGPT2(cps []rune, ends []int32) []int32 {
	n := len(cps)
	at := func(i int) rune {
		if i < n {
			return cps[i]
		}
		return -1
	}
	for pos := 0; pos < n; {
		r := cps[pos]
		// 's|'t|'re|'ve|'m|'ll|'d
		if r == '\'' && pos+1 < n {
			switch r1 := at(pos + 1); r1 {
			case 's', 't', 'm', 'd':
				pos += 2
				ends = append(ends, int32(pos))
				continue
			case 'r', 'v', 'l':
				r2 := at(pos + 2)
				if r1 == 'r' && r2 == 'e' || r1 == 'v' && r2 == 'e' || r1 == 'l' && r2 == 'l' {
					pos += 3
					ends = append(ends, int32(pos))
					continue
				}
			}
		}
		// " ?X+" for the classes letter, number and other.
		c := classAt(cps, pos)
		start := pos
		if r == ' ' {
			c = classAt(cps, pos+1)
			start = pos + 1
		}
		var match func(uint8) bool
		switch {
		case c&cpLetter != 0:
			match = func(c uint8) bool { return c&cpLetter != 0 }
		case c&cpNumber != 0:
			match = func(c uint8) bool { return c&cpNumber != 0 }
		case c != 0 && c&(cpSpace|cpLetter|cpNumber) == 0:
			match = func(c uint8) bool { return c != 0 && c&(cpSpace|cpLetter|cpNumber) == 0 }
		}
		if match != nil {
			pos = start
			for match(classAt(cps, pos)) {
				pos++
			}
			ends = append(ends, int32(pos))
			continue
		}
		pos = spaces(cps, pos, false)
		ends = append(ends, int32(pos))
	}
	return ends
}

// splitLlama3 splits cps into words by Llama 3's expression
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// by hand, as splitGPT2 does.
func splitLlama3(cps []rune, ends []int32) []int32 { return splitLlama3Digits(cps, ends, 3) }

// splitQwen2 is splitLlama3 with \p{N} for \p{N}{1,3}: one digit a word.
func splitQwen2(cps []rune, ends []int32) []int32 { return splitLlama3Digits(cps, ends, 1) }

func splitLlama3Digits(cps []rune, ends []int32, digits int) []int32 {
	n := len(cps)
	at := func(i int) rune {
		if i < n {
			return cps[i]
		}
		return -1
	}
	lower := func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	for pos := 0; pos < n; {
		r := cps[pos]
		c := classAt(cps, pos)
		// (?i:'s|'t|'re|'ve|'m|'ll|'d)
		if r == '\'' && pos+1 < n {
			switch r1 := lower(at(pos + 1)); r1 {
			case 's', 't', 'm', 'd':
				pos += 2
				ends = append(ends, int32(pos))
				continue
			case 'r', 'v', 'l':
				r2 := lower(at(pos + 2))
				if r1 == 'r' && r2 == 'e' || r1 == 'v' && r2 == 'e' || r1 == 'l' && r2 == 'l' {
					pos += 3
					ends = append(ends, int32(pos))
					continue
				}
			}
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if r != '\r' && r != '\n' && c&cpNumber == 0 && (c&cpLetter != 0 || classAt(cps, pos+1)&cpLetter != 0) {
			pos++
			for classAt(cps, pos)&cpLetter != 0 {
				pos++
			}
			ends = append(ends, int32(pos))
			continue
		}
		// \p{N}{1,digits}
		if c&cpNumber != 0 {
			start := pos
			for classAt(cps, pos)&cpNumber != 0 && pos-start < digits {
				pos++
			}
			ends = append(ends, int32(pos))
			continue
		}
		// " ?[^\s\p{L}\p{N}]+[\r\n]*"
		c2, start := c, pos
		if r == ' ' {
			c2, start = classAt(cps, pos+1), pos+1
		}
		if c2 != 0 && c2&(cpSpace|cpLetter|cpNumber) == 0 {
			pos = start
			for c := classAt(cps, pos); c != 0 && c&(cpSpace|cpLetter|cpNumber) == 0; c = classAt(cps, pos) {
				pos++
			}
			for r := at(pos); r == '\r' || r == '\n'; r = at(pos) {
				pos++
			}
			ends = append(ends, int32(pos))
			continue
		}
		pos = spaces(cps, pos, true)
		ends = append(ends, int32(pos))
	}
	return ends
}

// spaces matches the expressions' last alternatives at pos and returns the
// end of the word: with breaks, \s*[\r\n]+ (up to the last line break in
// a run of spaces); then \s+(?!\S), which leaves the last space of a run
// for the next word; then \s+; and a single code point if none matches.
func spaces(cps []rune, pos int, breaks bool) int {
	ws, lastBreak := 0, -1
	for classAt(cps, pos+ws)&cpSpace != 0 {
		if r := cps[pos+ws]; breaks && (r == '\r' || r == '\n') {
			lastBreak = pos + ws + 1
		}
		ws++
	}
	switch {
	case lastBreak > 0:
		return lastBreak
	case ws > 1 && pos+ws < len(cps):
		return pos + ws - 1
	case ws > 0:
		return pos + ws
	}
	return pos + 1
}

// splitTekken splits cps into words by Tekken's expression (Mistral Nemo)
//
//	[^\r\n\p{L}\p{N}]?U*L+|[^\r\n\p{L}\p{N}]?U+L*|\p{N}|
//	 ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// as llama.cpp matches it: U is a letter other than a-z, L a letter other
// than A-Z, so that a non-ASCII letter is both (llama.cpp reduces every
// non-ASCII letter to one class).
func splitTekken(cps []rune, ends []int32) []int32 {
	n := len(cps)
	isU := func(i int) bool {
		return i < n && classOf(cps[i])&cpLetter != 0 && (cps[i] < 'a' || cps[i] > 'z')
	}
	isL := func(i int) bool {
		return i < n && classOf(cps[i])&cpLetter != 0 && (cps[i] < 'A' || cps[i] > 'Z')
	}
	// upperLower matches U*L+ (lowerOpt false) or U+L* (true) at q.
	upperLower := func(q int, lowerOpt bool) int {
		j := q
		for isU(j) {
			j++
		}
		k := j
		for isL(k) {
			k++
		}
		switch {
		case k > j:
			return k
		case lowerOpt && j > q:
			return j
		case lowerOpt:
			return -1
		}
		// U* took every letter; give back up to the last one that is
		// also L, as the expression backtracks.
		for i := j - 1; i >= q; i-- {
			if isL(i) {
				return i + 1
			}
		}
		return -1
	}
	for pos := 0; pos < n; {
		r := cps[pos]
		c := classAt(cps, pos)
		prefix := r != '\r' && r != '\n' && c&(cpLetter|cpNumber) == 0
		end := -1
		for _, lowerOpt := range []bool{false, true} {
			if prefix {
				end = upperLower(pos+1, lowerOpt)
			}
			if end < 0 {
				end = upperLower(pos, lowerOpt)
			}
			if end >= 0 {
				break
			}
		}
		if end >= 0 {
			pos = end
			ends = append(ends, int32(pos))
			continue
		}
		if c&cpNumber != 0 {
			pos++
			ends = append(ends, int32(pos))
			continue
		}
		// " ?[^\s\p{L}\p{N}]+[\r\n/]*"
		c2, start := c, pos
		if r == ' ' {
			c2, start = classAt(cps, pos+1), pos+1
		}
		if c2 != 0 && c2&(cpSpace|cpLetter|cpNumber) == 0 {
			pos = start
			for c := classAt(cps, pos); c != 0 && c&(cpSpace|cpLetter|cpNumber) == 0; c = classAt(cps, pos) {
				pos++
			}
			for pos < n && (cps[pos] == '\r' || cps[pos] == '\n' || cps[pos] == '/') {
				pos++
			}
			ends = append(ends, int32(pos))
			continue
		}
		pos = spaces(cps, pos, true)
		ends = append(ends, int32(pos))
	}
	return ends
}
