package dialect

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// JSONScanner reads the JSON values of a request body for a decoder of
// a dialect's own (see DecodeJSONWith); each method returns false for
// anything it does not read exactly as encoding/json would, leaving the
// body to it.
type JSONScanner struct {
	b []byte
	i int
}

// ScanObject reads the rest of s's data as one object of keys and
// nothing after it, calling field with each key and s at its value. A
// caller keeps its scanner in a variable of its own and names its field
// function in the closure: a scanner handed on to a function value
// escapes to the heap, one allocation a call.
func (s *JSONScanner) ScanObject(keys KeySet, field func(key []byte) bool) bool {
	return s.Fields(keys, field) && s.End()
}

// Init makes s a scanner at the start of data, as NewJSONScanner does.
func (s *JSONScanner) Init(data []byte) { *s = JSONScanner{b: data} }

// NewJSONScanner returns a scanner at the start of data.
func NewJSONScanner(data []byte) *JSONScanner { return &JSONScanner{b: data} }

// ws skips whitespace. It runs before every token (some fifty a
// request), mostly to find none: one compare (a byte above the space is
// no whitespace) in a loop over locals decides that, where a switch of
// the four bytes over s's fields took some seventeen instructions.
func (s *JSONScanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

// Next consumes c, after whitespace, if it is there.
func (s *JSONScanner) Next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// Peek is the next byte after whitespace, or 0 at the end.
func (s *JSONScanner) Peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// Array reads an array, calling elem with the scanner at each element.
func (s *JSONScanner) Array(elem func() bool) bool {
	if !s.Next('[') {
		return false
	}
	if s.Next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.Next(']') {
			return true
		}
		if !s.Next(',') {
			return false
		}
	}
}

// End reports whether only whitespace is left.
func (s *JSONScanner) End() bool {
	s.ws()
	return s.i == len(s.b)
}

// Object reads an object, calling field for each key (a plain string)
// with the scanner at its value.
func (s *JSONScanner) Object(field func(key []byte) bool) bool {
	if !s.Next('{') {
		return false
	}
	if s.Next('}') {
		return true
	}
	for {
		s.ws()
		key, ok := s.plainKey()
		if !ok || !s.Next(':') || !field(key) {
			return false
		}
		if s.Next('}') {
			return true
		}
		if !s.Next(',') {
			return false
		}
	}
}

// fields is Fields. It runs for every object of every request, some
// ten keys a call, so its loop keeps the scanner's place in locals
// between field's calls, and finds a key by the set itself: the key
// ends at the first quote, and only a name of the set, plain by
// construction, is read, so no byte of it is checked on its own.
func (s *JSONScanner) fields(t *keyTable, field func(key []byte) bool) bool {
	b, i := s.b, skipWS(s.b, s.i)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	if i = skipWS(b, i+1); i < len(b) && b[i] == '}' {
		s.i = i + 1
		return true
	}
	var seen uint32 // the keys read
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		rest := b[i+1:]
		if len(rest) > t.longest+1 {
			rest = rest[:t.longest+1] // a longer key is none of the set's
		}
		n := bytes.IndexByte(rest, '"')
		if n <= 0 { // none, or "", which is no set's
			return false
		}
		key := b[i+1 : i+1+n : i+1+n]
		bit := t.bit(key)
		if bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		if i = skipWS(b, i+n+2); i >= len(b) || b[i] != ':' {
			return false
		}
		s.i = i + 1
		if !field(key) {
			return false
		}
		b, i = s.b, skipWS(s.b, s.i)
		if i < len(b) && b[i] == '}' {
			s.i = i + 1
			return true
		}
		if i >= len(b) || b[i] != ',' {
			return false
		}
		i = skipWS(b, i+1)
	}
}

// skipWS is ws over locals: the index of the first byte at or after i
// that is not whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// KeySet is the keys of an object a fast decoder reads, each a bit of
// the set Fields has seen (at most 32). A look-up hashes the key's
// length and first, middle and last bytes to the one name it may be (by
// factors found when the set is made; a set they cannot separate probes
// the slots after) and compares that: a request's keys are looked up for
// every call.
type KeySet struct{ t *keyTable }

type keyTable struct {
	names   []string
	longest int
	a, b    uint         // the hash's factors
	probed  bool         // no a and b hash each name to a slot of its own
	slot    [64]keyEntry // a name that hashes there or, probed, before it
}

// NewKeySet returns the set of keys, each of printable ASCII with no
// quote or backslash (a key as it stands in the JSON text).
func NewKeySet(keys ...string) KeySet {
	if len(keys) > 32 {
		panic("dialect.NewKeySet: more than 32 keys")
	}
	t := &keyTable{names: keys}
	for _, k := range keys {
		if k == "" || PlainEnd(k, 0) != len(k) {
			panic("dialect.NewKeySet: a key that is not plain: " + strconv.Quote(k))
		}
		t.longest = max(t.longest, len(k))
	}
	for a := uint(1); a < 64; a++ {
		for b := uint(0); b < 64; b++ {
			if t.a, t.b = a, b; t.fill(false) {
				return KeySet{t: t}
			}
		}
	}
	t.a, t.b, t.probed = 1, 1, true
	t.fill(true)
	return KeySet{t: t}
}

// hash is key's slot; key is not empty.
func (t *keyTable) hash(key []byte) uint {
	n := len(key)
	return (uint(key[0])*t.a + uint(key[n-1])*t.b + uint(key[n/2]) + uint(n)) & 63
}

// fill puts each name in its slot, or with probe in the first free slot
// from it, and reports whether none collided.
func (t *keyTable) fill(probe bool) bool {
	t.slot = [64]keyEntry{}
	for i, k := range t.names {
		h := t.hash([]byte(k))
		for ; t.slot[h].bit != 0; h = (h + 1) & 63 {
			if !probe {
				return false
			}
		}
		t.slot[h] = keyEntry{name: k, bit: 1 << i}
	}
	return true
}

// keyEntry is a name of a set and its bit.
type keyEntry struct {
	name string
	bit  uint32
}

// bit is the bit of key, which is not empty, or 0 for a key not in the
// set: the name in key's slot, or in the slots after it up to an empty
// one for a set without a perfect hash. Inlined in fields.
func (t *keyTable) bit(key []byte) uint32 {
	for h := t.hash(key); ; h = (h + 1) & 63 {
		if e := &t.slot[h]; e.bit == 0 || e.name == string(key) {
			return e.bit
		}
	}
}

// noKeys is the zero KeySet's table: it reads no key.
var noKeys = &keyTable{}

// Fields is Object for an object of keys (a key not in it, or given
// twice, is not read: encoding/json folds case and lets the last one
// win).
func (s *JSONScanner) Fields(keys KeySet, field func(key []byte) bool) bool {
	t := keys.t
	if t == nil {
		t = noKeys
	}
	return s.fields(t, field)
}

// plainKey reads a key of printable ASCII with no escapes.
func (s *JSONScanner) plainKey() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	end := PlainEndBytes(s.b, start)
	if end >= len(s.b) || s.b[end] != '"' {
		return nil, false
	}
	s.i = end + 1
	return s.b[start:end], true
}

// RawString reads a string value and returns its bytes as they are, quotes
// included (a json.RawMessage, as encoding/json keeps it).
func (s *JSONScanner) RawString() ([]byte, bool) {
	s.ws()
	start := s.i
	if _, ok := s.str(false); !ok {
		return nil, false
	}
	return s.b[start:s.i:s.i], true
}

// StrView is Str for a body the caller owns (dialect.DecodeJSONOwned):
// the string is a view of the body's bytes, not a copy, and one with
// escapes is left escaped, for UnescapeView once the whole body is taken
// (until then, encoding/json may need the bytes as they are).
func (s *JSONScanner) StrView() (string, bool) {
	s.ws()
	start := s.i + 1
	if _, ok := s.str(false); !ok {
		return "", false
	}
	return view(s.b[start : s.i-1]), true
}

// Str reads a string value: plain bytes and valid UTF-8 as they are, and
// the escapes \" \\ \/ \b \f \n \r \t and \uXXXX outside the surrogates.
// Invalid UTF-8 (which encoding/json replaces) and surrogate escapes
// (which it pairs) are left to encoding/json.
func (s *JSONScanner) Str() (string, bool) { return s.str(true) }

// str is Str; without keep it only checks the string, and allocates
// nothing (RawString's caller decodes the raw bytes itself: a prompt
// made into a string twice was one copy of it too many per call).
func (s *JSONScanner) str(keep bool) (string, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	i := PlainEndBytes(s.b, start)
	if i < len(s.b) && s.b[i] == '"' {
		s.i = i + 1
		if !keep {
			return "", true
		}
		return string(s.b[start:i]), true
	}
	var (
		out     []byte // set at the first escape, when keeping
		escaped bool
		scratch [utf8.UTFMax]byte // an escape's bytes, when not keeping
	)
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.i = i + 1
			switch {
			case !keep:
				return "", true
			case !escaped:
				return string(s.b[start:i]), true
			}
			return string(out), true
		case c == '\\':
			dst := scratch[:0]
			if keep {
				if !escaped {
					out = append(make([]byte, 0, i-start+32), s.b[start:i]...)
				}
				dst = out
			}
			escaped = true
			var ok bool
			if dst, i, ok = unescape(dst, s.b, i); !ok {
				return "", false
			}
			if keep {
				out = dst
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			if escaped && keep {
				out = append(out, c)
			}
			i++
		default:
			r, size := utf8.DecodeRune(s.b[i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			if escaped && keep {
				out = append(out, s.b[i:i+size]...)
			}
			i += size
		}
	}
	return "", false
}

// unescape appends the escape at b[i] (a backslash) to out.
func unescape(out, b []byte, i int) ([]byte, int, bool) {
	if i+1 >= len(b) {
		return out, i, false
	}
	switch c := b[i+1]; c {
	case '"', '\\', '/':
		return append(out, c), i + 2, true
	case 'b':
		return append(out, '\b'), i + 2, true
	case 'f':
		return append(out, '\f'), i + 2, true
	case 'n':
		return append(out, '\n'), i + 2, true
	case 'r':
		return append(out, '\r'), i + 2, true
	case 't':
		return append(out, '\t'), i + 2, true
	case 'u':
		if i+6 > len(b) {
			return out, i, false
		}
		var r rune
		for _, h := range b[i+2 : i+6] {
			switch {
			case '0' <= h && h <= '9':
				h -= '0'
			case 'a' <= h && h <= 'f':
				h -= 'a' - 10
			case 'A' <= h && h <= 'F':
				h -= 'A' - 10
			default:
				return out, i, false
			}
			r = r<<4 | rune(h)
		}
		if 0xd800 <= r && r < 0xe000 {
			return out, i, false
		}
		return utf8.AppendRune(out, r), i + 6, true
	}
	return out, i, false
}

// Bool reads true or false.
func (s *JSONScanner) Bool() (bool, bool) {
	s.ws()
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true, s.delimited()
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false, s.delimited()
	}
	return false, false
}

// delimited reports that the literal or number just read ends there (a
// letter or digit straight after it is a syntax error).
func (s *JSONScanner) delimited() bool {
	if s.i == len(s.b) {
		return true
	}
	switch s.b[s.i] {
	case ' ', '\t', '\n', '\r', ',', '}', ']':
		return true
	}
	return false
}

// number reads a JSON number and returns its text; integer says it has
// neither fraction nor exponent.
func (s *JSONScanner) number() (text []byte, integer, ok bool) {
	s.ws()
	start, i := s.i, s.i
	digits := func() int {
		n := 0
		for i < len(s.b) && '0' <= s.b[i] && s.b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	first := i
	if n := digits(); n == 0 || n > 1 && s.b[first] == '0' {
		return nil, false, false
	}
	integer = true
	if i < len(s.b) && s.b[i] == '.' {
		i++
		if digits() == 0 {
			return nil, false, false
		}
		integer = false
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, false, false
		}
		integer = false
	}
	s.i = i
	return s.b[start:i], integer, s.delimited()
}

// Int reads an integer that fits in 64 bits (encoding/json refuses a
// fraction or an exponent for an integer field).
func (s *JSONScanner) Int() (int64, bool) {
	text, integer, ok := s.number()
	if !ok || !integer {
		return 0, false
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	return n, err == nil
}

// IntPtr is Int into a new int.
func (s *JSONScanner) IntPtr() (*int, bool) { return s.IntInto(new(int)) }

// IntInto is IntPtr into *p, room its caller has: p, or nil if the
// number is not taken.
func (s *JSONScanner) IntInto(p *int) (*int, bool) {
	n, ok := s.Int()
	if !ok {
		return nil, false
	}
	*p = int(n)
	return p, true
}

// FloatPtr reads a number into a new float64 (encoding/json refuses one
// out of its range).
func (s *JSONScanner) FloatPtr() (*float64, bool) {
	text, _, ok := s.number()
	if !ok {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return nil, false
	}
	return &f, true
}
