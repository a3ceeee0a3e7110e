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
	r := cps[i]
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
		// \s+(?!\S) leaves the last space for the next word; \s+ takes all.
		ws := 0
		for classAt(cps, pos+ws)&cpSpace != 0 {
			ws++
		}
		switch {
		case ws > 1 && pos+ws < n:
			pos += ws - 1
		case ws > 0:
			pos += ws
		default:
			pos++
		}
		ends = append(ends, int32(pos))
	}
	return ends
}
