package mock

import (
	"unicode"
	"unicode/utf8"
)

// Tokens splits text into the mock's word-ish tokens: each token is its
// leading whitespace plus either a run of letters, digits and apostrophes or
// a single other character. Joined, the tokens give back text, except for
// trailing whitespace, which has no word to lead.
//
//	Tokens("Hello, world!") = ["Hello", ",", " world", "!"]
func Tokens(text string) []string {
	var out []string
	for rest := text; ; {
		n := next(rest)
		if n == 0 {
			return out
		}
		out = append(out, rest[:n])
		rest = rest[n:]
	}
}

// Count returns len(Tokens(text)) without allocating.
func Count(text string) int {
	c := 0
	for rest := text; ; c++ {
		n := next(rest)
		if n == 0 {
			return c
		}
		rest = rest[n:]
	}
}

// next returns the length of the first token of s, or 0 if s holds none.
func next(s string) int {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return 0
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	i += size
	if !word(r) {
		return i
	}
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !word(r) {
			break
		}
		i += size
	}
	return i
}

func word(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' }
