package dialect

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// EventScanner reads JSON at S[I:] without reflection: what the upstream
// parsers of the per-token path (OpenAI's chunks, Anthropic's events) are
// built of. They take the shapes a stream has and leave anything else to
// encoding/json, which also words the error; so every method fails on
// what it does not take, and none needs to report why. Request bodies have
// their own scanner, JSONScanner: it copies what it reads into values a call
// keeps, where this one hands out views of an event that lives one token.
type EventScanner struct {
	S     string
	I     int
	depth int // of the value Skip is in
}

// maxSkipDepth bounds the nesting of the values Skip skips: deeper ones
// are left to encoding/json, which bounds it too.
const maxSkipDepth = 32

// WS skips whitespace.
func (p *EventScanner) WS() {
	for p.I < len(p.S) {
		switch p.S[p.I] {
		case ' ', '\t', '\n', '\r':
			p.I++
		default:
			return
		}
	}
}

// Eat consumes b, after any whitespace.
func (p *EventScanner) Eat(b byte) bool {
	// Events seldom have whitespace between tokens: check before WS.
	if p.I < len(p.S) && p.S[p.I] == b {
		p.I++
		return true
	}
	p.WS()
	if p.I < len(p.S) && p.S[p.I] == b {
		p.I++
		return true
	}
	return false
}

// Lit consumes l if the data goes on with it.
func (p *EventScanner) Lit(l string) bool {
	if strings.HasPrefix(p.S[p.I:], l) {
		p.I += len(l)
		return true
	}
	return false
}

// Null consumes null.
func (p *EventScanner) Null() bool { return p.Lit("null") }

// Object parses an object, calling field for each key with the scanner
// at its value.
func (p *EventScanner) Object(field func(key string) bool) bool {
	if !p.Eat('{') {
		return false
	}
	if p.Eat('}') {
		return true
	}
	return p.members(field)
}

// Rest parses the rest of an object after one of its values (read by the
// caller, which started the object elsewhere): any more members, calling
// field for each as Object does, and the closing brace.
func (p *EventScanner) Rest(field func(key string) bool) bool {
	if p.Eat(',') {
		return p.members(field)
	}
	return p.Eat('}')
}

// members parses an object's members, the first one next, and its end.
func (p *EventScanner) members(field func(key string) bool) bool {
	for {
		p.WS()
		key, ok := p.Str()
		if !ok || !p.Eat(':') {
			return false
		}
		p.WS()
		if !field(key) {
			return false
		}
		if p.Eat(',') {
			continue
		}
		return p.Eat('}')
	}
}

// Str parses a string. Without escapes it is a substring of S (a view of
// the caller's buffer, if S is one); with them, or with invalid UTF-8,
// encoding/json decodes it (the escapes were checked here, so it cannot
// fail).
func (p *EventScanner) Str() (string, bool) {
	if p.I >= len(p.S) || p.S[p.I] != '"' {
		return "", false
	}
	start := p.I + 1
	// Most strings (keys, ids, tokens) are plain ASCII: no escapes to
	// decode and no UTF-8 to check.
	s, j := p.S, PlainEnd(p.S, start)
	if j < len(s) && s[j] == '"' {
		p.I = j + 1
		return s[start:j], true
	}
	escaped := false
	for j := start; j < len(s); j++ {
		switch b := s[j]; {
		case b == '"':
			p.I = j + 1
			raw := s[start:j]
			if !escaped && utf8.ValidString(raw) {
				return raw, true
			}
			var out string
			if json.Unmarshal([]byte(s[start-1:j+1]), &out) != nil {
				return "", false
			}
			return out, true
		case b == '\\':
			escaped = true
			j++
			if j >= len(s) {
				return "", false
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) || !isHex(s[j+1]) || !isHex(s[j+2]) || !isHex(s[j+3]) || !isHex(s[j+4]) {
					return "", false
				}
				j += 4
			default:
				return "", false
			}
		case b < 0x20:
			return "", false
		}
	}
	return "", false
}

// Int parses an integer of at most 18 digits into dst (null leaves it, as
// encoding/json does); a fraction, an exponent or a longer number is not
// taken.
func (p *EventScanner) Int(dst *int) bool {
	if p.Null() {
		return true
	}
	s, i := p.S, p.I
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	start, n := i, 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		n = n*10 + int(s[i]-'0')
	}
	if d := i - start; d == 0 || d > 18 || d > 1 && s[start] == '0' ||
		i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
		return false
	}
	if neg {
		n = -n
	}
	*dst, p.I = n, i
	return true
}

// Skip skips any value nested at most maxSkipDepth deep.
func (p *EventScanner) Skip() bool {
	p.WS()
	if p.I >= len(p.S) {
		return false
	}
	switch b := p.S[p.I]; {
	case b == '"':
		_, ok := p.Str()
		return ok
	case b == '{' || b == '[':
		if p.depth >= maxSkipDepth {
			return false
		}
		p.depth++
		ok := p.skipNested(b)
		p.depth--
		return ok
	case b == 't':
		return p.Lit("true")
	case b == 'f':
		return p.Lit("false")
	case b == 'n':
		return p.Null()
	case b == '-' || isDigit(b):
		return p.number()
	}
	return false
}

func (p *EventScanner) skipNested(open byte) bool {
	if open == '{' {
		return p.Object(func(string) bool { return p.Skip() })
	}
	p.I++
	if p.Eat(']') {
		return true
	}
	for p.Skip() {
		if !p.Eat(',') {
			return p.Eat(']')
		}
	}
	return false
}

// number skips a number by JSON's grammar.
func (p *EventScanner) number() bool {
	s, i := p.S, p.I
	digits := func() bool {
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i > start
	}
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	p.I = i
	return true
}

// MatchesAny says whether encoding/json would take key for one of names,
// all ASCII: it matches keys case-insensitively.
func MatchesAny(key string, names ...string) bool {
	ascii := 0 // key's bytes: 1 all ASCII, -1 not, 0 not looked at yet
	for _, name := range names {
		// A key folding to an ASCII name is at least as long (K and ſ
		// fold to k and s from more bytes), and as long only if ASCII
		// too: most unknown keys (id, object, model) need no compare,
		// and a key as long as a name needs only ASCII's folding.
		switch {
		case len(key) == len(name):
			if foldsASCII(key, name) {
				return true
			}
		case len(key) > len(name):
			// Only a rune of more bytes (K, ſ) can fold to one of
			// name's, so a key whose first byte is ASCII matches
			// name's folded, at most: most keys go no further.
			if name == "" || key[0] < utf8.RuneSelf && key[0]|0x20 != name[0]|0x20 {
				continue
			}
			if ascii == 0 {
				ascii = -1
				if isASCII(key) {
					ascii = 1
				}
			}
			if ascii < 0 && strings.EqualFold(key, name) {
				return true
			}
		}
	}
	return false
}

// foldsASCII is strings.EqualFold for key and name of one length, name
// ASCII: bytes equal, or letters of the other case. A byte of a
// multi-byte rune in key never matches (such a key folding to name
// would be longer).
func foldsASCII(key, name string) bool {
	for i := 0; i < len(name); i++ {
		a, b := key[i], name[i]
		if a != b && (a|0x20 != b|0x20 || a|0x20 < 'a' || a|0x20 > 'z') {
			return false
		}
	}
	return true
}

// isASCII reports whether s is all ASCII, eight bytes at a time: keys
// are short, and a byte at a time cost most of an unknown key's look.
func isASCII(s string) bool {
	for ; len(s) >= 8; s = s[8:] {
		// One load: the compiler joins the bytes' loads.
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isHex(b byte) bool { return isDigit(b) || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' }
