package openai

import (
	"strconv"
	"unicode/utf8"

	"github.com/runnel/runnel/dialect"
)

// scanChat decodes the chat request most clients send into c without
// encoding/json: an object of the keys below, messages of a role, a
// string content and a name, strings whose escapes are simple, no nulls,
// no key twice. Anything else (another key, a key spelled in other case,
// content parts, tools…) returns false with c untouched, and
// encoding/json decodes the body as before: the scanner only ever takes
// bodies that encoding/json decodes to the same value (FuzzScanChat).
func scanChat(data []byte, c *ChatRequest) bool {
	s := jsonScanner{b: data}
	var out ChatRequest
	var seen uint32
	ok := s.object(func(key []byte) bool {
		bit, ok := chatKeys[string(key)]
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return s.chatField(key, &out)
	})
	if !ok || !s.end() {
		return false
	}
	*c = out
	return true
}

// chatKeys are the keys scanChat reads, each a bit of the set it has seen.
var chatKeys = func() map[string]uint32 {
	m := map[string]uint32{}
	for i, k := range []string{"model", "messages", "stream", "stream_options", "max_tokens",
		"max_completion_tokens", "temperature", "top_p", "n", "seed", "presence_penalty",
		"frequency_penalty", "user"} {
		m[k] = 1 << i
	}
	return m
}()

func (s *jsonScanner) chatField(key []byte, c *ChatRequest) (ok bool) {
	switch string(key) {
	case "model":
		c.Model, ok = s.str()
	case "user":
		c.User, ok = s.str()
	case "stream":
		c.Stream, ok = s.boolean()
	case "messages":
		c.Messages, ok = s.messages()
	case "stream_options":
		c.StreamOptions, ok = s.streamOptions()
	case "max_tokens":
		c.MaxTokens, ok = s.intPtr()
	case "max_completion_tokens":
		c.MaxCompletionTokens, ok = s.intPtr()
	case "n":
		c.N, ok = s.intPtr()
	case "seed":
		var n int64
		if n, ok = s.int(); ok {
			c.Seed = &n
		}
	case "temperature":
		c.Temperature, ok = s.floatPtr()
	case "top_p":
		c.TopP, ok = s.floatPtr()
	case "presence_penalty":
		c.PresencePenalty, ok = s.floatPtr()
	case "frequency_penalty":
		c.FrequencyPenalty, ok = s.floatPtr()
	}
	return ok
}

// messages reads an array of messages (an empty one is empty, not nil,
// as encoding/json makes it).
func (s *jsonScanner) messages() ([]Message, bool) {
	if !s.next('[') {
		return nil, false
	}
	msgs := make([]Message, 0, 4)
	if s.next(']') {
		return msgs, true
	}
	for {
		var m Message
		var seen uint8
		ok := s.object(func(key []byte) bool {
			var bit uint8
			var ok bool
			switch string(key) {
			case "role":
				bit = 1
				m.Role, ok = s.str()
			case "content":
				bit = 2
				m.Content, ok = s.rawStr()
			case "name":
				bit = 4
				m.Name, ok = s.str()
			}
			ok = ok && seen&bit == 0
			seen |= bit
			return ok
		})
		if !ok {
			return nil, false
		}
		msgs = append(msgs, m)
		if s.next(']') {
			return msgs, true
		}
		if !s.next(',') {
			return nil, false
		}
	}
}

func (s *jsonScanner) streamOptions() (*StreamOptions, bool) {
	var o StreamOptions
	seen := false
	ok := s.object(func(key []byte) bool {
		if string(key) != "include_usage" || seen {
			return false
		}
		seen = true
		var ok bool
		o.IncludeUsage, ok = s.boolean()
		return ok
	})
	return &o, ok
}

// jsonScanner reads the JSON values a fast decoder takes; each method
// returns false for anything it does not read exactly as encoding/json
// would, leaving the decision to it.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c, after whitespace, if it is there.
func (s *jsonScanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// object reads an object, calling field for each key (a plain string)
// with the scanner at its value.
func (s *jsonScanner) object(field func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		s.ws()
		key, ok := s.plainKey()
		if !ok || !s.next(':') || !field(key) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// plainKey reads a key of printable ASCII with no escapes.
func (s *jsonScanner) plainKey() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	end := dialect.PlainEndBytes(s.b, start)
	if end >= len(s.b) || s.b[end] != '"' {
		return nil, false
	}
	s.i = end + 1
	return s.b[start:end], true
}

// rawStr reads a string value and returns its bytes as they are, quotes
// included (a json.RawMessage, as encoding/json keeps it).
func (s *jsonScanner) rawStr() ([]byte, bool) {
	s.ws()
	start := s.i
	if _, ok := s.str(); !ok {
		return nil, false
	}
	return s.b[start:s.i:s.i], true
}

// str reads a string value: plain bytes and valid UTF-8 as they are, and
// the escapes \" \\ \/ \b \f \n \r \t and \uXXXX outside the surrogates.
// Invalid UTF-8 (which encoding/json replaces) and surrogate escapes
// (which it pairs) are left to encoding/json.
func (s *jsonScanner) str() (string, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	i := dialect.PlainEndBytes(s.b, start)
	if i < len(s.b) && s.b[i] == '"' {
		s.i = i + 1
		return string(s.b[start:i]), true
	}
	var out []byte // set at the first escape
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.i = i + 1
			if out == nil {
				return string(s.b[start:i]), true
			}
			return string(out), true
		case c == '\\':
			if out == nil {
				out = append(make([]byte, 0, len(s.b)-start), s.b[start:i]...)
			}
			var ok bool
			if out, i, ok = unescape(out, s.b, i); !ok {
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			if out != nil {
				out = append(out, c)
			}
			i++
		default:
			r, size := utf8.DecodeRune(s.b[i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			if out != nil {
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

func (s *jsonScanner) boolean() (bool, bool) {
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
func (s *jsonScanner) delimited() bool {
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
func (s *jsonScanner) number() (text []byte, integer, ok bool) {
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

// int reads an integer that fits in 64 bits (encoding/json refuses a
// fraction or an exponent for an integer field).
func (s *jsonScanner) int() (int64, bool) {
	text, integer, ok := s.number()
	if !ok || !integer {
		return 0, false
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	return n, err == nil
}

func (s *jsonScanner) intPtr() (*int, bool) {
	n, ok := s.int()
	if !ok {
		return nil, false
	}
	v := int(n)
	return &v, true
}

func (s *jsonScanner) floatPtr() (*float64, bool) {
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
