package openai

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/runnel/runnel/dialect"
)

// liteChunk is what a per-token chunk carries: at most one choice (index 0)
// with content, reasoning, legacy text and a finish reason, and no tool
// calls or error; or the usage chunk that ends a stream. parseLite reads
// such chunks without reflection and, where a string has no escapes,
// without copying it out of the event data; anything else is left to
// encoding/json.
type liteChunk struct {
	content, reasoningContent, reasoning, text, finish string
	hasFinish                                          bool
	usage                                              liteUsage
}

// liteUsage is Usage without its pointer: has says there was one (not
// null), hasDetails the same of its completion_tokens_details.
type liteUsage struct {
	has, hasDetails                      bool
	prompt, completion, total, reasoning int
}

// parseLite parses data as a liteChunk. ok is false when data is not valid
// JSON or holds anything beyond what liteChunk carries; the caller then
// decodes it with encoding/json, which also reports the error.
func parseLite(data string) (c liteChunk, ok bool) {
	c, _, ok = parseLiteAt(data)
	return c, ok
}

// parseLiteAt is parseLite, also returning where in data the string that
// c.content holds begins (its opening quote), or -1 when c.content came
// from no string (none, or null after it).
func parseLiteAt(data string) (c liteChunk, contentAt int, ok bool) {
	p := liteParser{s: data, contentAt: -1}
	p.ws()
	seen := false
	if !p.object(func(key string) bool {
		switch key {
		case "choices":
			if seen {
				return false
			}
			seen = true
			return p.choices(&c)
		case "usage":
			return p.usage(&c.usage)
		case "error":
			return p.null()
		}
		return p.other(key, "choices", "usage", "error")
	}) {
		return c, -1, false
	}
	p.ws()
	return c, p.contentAt, p.i == len(p.s)
}

// parseLiteBytes is parseLite over a buffer the caller reuses (an SSE
// Reader's RawEvent): it parses a string view of data without copying it,
// then copies out only the strings it returns, which are a token or two
// where the whole event is a few hundred bytes.
//
// It first tries sh, the shape of the stream's last chunk (nil for none),
// and on a full parse records the chunk's shape there.
func parseLiteBytes(data []byte, sh *chunkShape) (c liteChunk, ok bool) {
	if sh != nil {
		if c, ok = sh.parse(data); ok {
			return c, true
		}
	}
	c, at, ok := parseLiteAt(unsafe.String(unsafe.SliceData(data), len(data)))
	if ok {
		c.content = strings.Clone(c.content)
		c.reasoningContent = strings.Clone(c.reasoningContent)
		c.reasoning = strings.Clone(c.reasoning)
		c.text = strings.Clone(c.text)
		c.finish = strings.Clone(c.finish)
		if sh != nil {
			sh.set(data, at, &c)
		}
	}
	return c, ok
}

// chunkShape is a stream's last per-token chunk without its content
// string: the bytes before and after it, and what the rest of the chunk
// parsed to. An upstream sends every token's chunk with the same id,
// created, model and trailing fields, so a chunk whose bytes are the
// same but for one JSON string where the content was is that chunk with
// other content: comparing the two ends and parsing the one string is the
// whole parse (about 4,000 of the hop's 20,000 instructions a token).
type chunkShape struct {
	ends   []byte // the bytes before the content string, then those after
	before int    // how many of ends come before it
	chunk  liteChunk
}

// set records data's shape, when c.content came from the string at at.
func (sh *chunkShape) set(data []byte, at int, c *liteChunk) {
	sh.ends = sh.ends[:0]
	if at < 0 {
		return
	}
	p := liteParser{s: unsafe.String(unsafe.SliceData(data), len(data)), i: at}
	if _, ok := p.str(); !ok {
		return
	}
	sh.ends = append(append(sh.ends, data[:at]...), data[p.i:]...)
	sh.before, sh.chunk = at, *c
}

// parse parses data as the recorded chunk with another content string.
func (sh *chunkShape) parse(data []byte) (liteChunk, bool) {
	after := len(sh.ends) - sh.before
	if len(sh.ends) == 0 || len(data) < len(sh.ends)+2 ||
		!bytes.Equal(data[:sh.before], sh.ends[:sh.before]) || !bytes.Equal(data[len(data)-after:], sh.ends[sh.before:]) {
		return liteChunk{}, false
	}
	p := liteParser{s: unsafe.String(unsafe.SliceData(data), len(data)), i: sh.before}
	content, ok := p.str()
	if !ok || p.i != len(data)-after {
		return liteChunk{}, false
	}
	c := sh.chunk
	c.content = strings.Clone(content)
	return c, true
}

type liteParser struct {
	s string
	i int
	// contentAt is where the string c.content was last set from begins,
	// or -1 (parseLiteAt).
	contentAt int
}

func (p *liteParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *liteParser) eat(b byte) bool {
	// Chunks seldom have whitespace between tokens: check before ws.
	if p.i < len(p.s) && p.s[p.i] == b {
		p.i++
		return true
	}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == b {
		p.i++
		return true
	}
	return false
}

// object parses an object, calling field for each key with the parser at
// its value.
func (p *liteParser) object(field func(key string) bool) bool {
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return true
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok || !p.eat(':') {
			return false
		}
		p.ws()
		if !field(key) {
			return false
		}
		if p.eat(',') {
			continue
		}
		return p.eat('}')
	}
}

func (p *liteParser) choices(c *liteChunk) bool {
	if !p.eat('[') {
		return false
	}
	if p.eat(']') {
		return true
	}
	p.ws()
	ok := p.object(func(key string) bool {
		switch key {
		case "index":
			if !p.lit("0") {
				return false
			}
			return p.i == len(p.s) || !isDigit(p.s[p.i]) && p.s[p.i] != '.' && p.s[p.i] != 'e' && p.s[p.i] != 'E'
		case "delta":
			return p.object(func(key string) bool {
				switch key {
				case "content":
					at := p.i
					if !p.strOrNull(&c.content) {
						return false
					}
					if p.s[at] != '"' {
						at = -1 // null
					}
					p.contentAt = at
					return true
				case "reasoning_content":
					return p.strOrNull(&c.reasoningContent)
				case "reasoning":
					return p.strOrNull(&c.reasoning)
				case "tool_calls", "function_call":
					return p.null()
				}
				return p.other(key, "content", "reasoning_content", "reasoning", "tool_calls", "function_call")
			})
		case "text":
			return p.strOrNull(&c.text)
		case "logprobs":
			// Non-null logprobs are the event's to carry: encoding/json
			// keeps them raw.
			return p.null()
		case "finish_reason":
			c.finish, c.hasFinish = "", false
			if p.null() {
				return true
			}
			var ok bool
			c.finish, ok = p.str()
			c.hasFinish = ok
			return ok
		}
		return p.other(key, "index", "delta", "text", "finish_reason", "logprobs")
	})
	// A second choice is not a per-token chunk of ours.
	return ok && p.eat(']')
}

func (p *liteParser) null() bool { return p.lit("null") }

// usage parses a usage object into u as encoding/json does into the *Usage
// it reuses: a repeated key merges into what an earlier one set, and null
// drops it.
func (p *liteParser) usage(u *liteUsage) bool {
	if p.null() {
		*u = liteUsage{}
		return true
	}
	if !u.has {
		*u = liteUsage{has: true}
	}
	return p.object(func(key string) bool {
		switch key {
		case "prompt_tokens":
			return p.int(&u.prompt)
		case "completion_tokens":
			return p.int(&u.completion)
		case "total_tokens":
			return p.int(&u.total)
		case "completion_tokens_details":
			if p.null() {
				u.hasDetails, u.reasoning = false, 0
				return true
			}
			if !u.hasDetails {
				u.hasDetails, u.reasoning = true, 0
			}
			return p.object(func(key string) bool {
				if key == "reasoning_tokens" {
					return p.int(&u.reasoning)
				}
				return p.other(key, "reasoning_tokens")
			})
		}
		return p.other(key, "prompt_tokens", "completion_tokens", "total_tokens", "completion_tokens_details")
	})
}

// int parses an integer of at most 18 digits into dst (null leaves it, as
// encoding/json does); anything else (a fraction, an exponent, a longer
// number) is left to encoding/json.
func (p *liteParser) int(dst *int) bool {
	if p.null() {
		return true
	}
	s, i := p.s, p.i
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	start := i
	n := 0
	for i < len(s) && isDigit(s[i]) {
		n = n*10 + int(s[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 18 || digits > 1 && s[start] == '0' ||
		i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
		return false
	}
	if neg {
		n = -n
	}
	*dst, p.i = n, i
	return true
}

// other skips the value of a key the chunk does not need. encoding/json
// matches keys case-insensitively, so a key that differs from a known one
// only in case is left to it.
func (p *liteParser) other(key string, known ...string) bool {
	for _, k := range known {
		// Every known key is ASCII, so a key that folds to one is at
		// least as long (K and ſ fold to k and s from two or three
		// bytes), and exactly as long if it is ASCII too: most unknown
		// keys (id, object, created, model) need no EqualFold.
		if len(key) < len(k) || len(key) > len(k) && isASCII(key) {
			continue
		}
		if strings.EqualFold(key, k) {
			return false
		}
	}
	return p.skip()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (p *liteParser) lit(l string) bool {
	if len(p.s)-p.i >= len(l) && p.s[p.i:p.i+len(l)] == l {
		p.i += len(l)
		return true
	}
	return false
}

func (p *liteParser) strOrNull(dst *string) bool {
	if p.null() {
		*dst = ""
		return true
	}
	s, ok := p.str()
	*dst = s
	return ok
}

// str parses a string. Without escapes it is a substring of the data;
// with them, encoding/json decodes it (the escapes were checked here, so it
// cannot fail).
func (p *liteParser) str() (string, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	// Most strings (keys, ids, tokens) are plain ASCII: no escapes to
	// decode and no UTF-8 to check.
	s, j := p.s, dialect.PlainEnd(p.s, start)
	if j < len(s) && s[j] == '"' {
		p.i = j + 1
		return s[start:j], true
	}
	escaped := false
	for j := start; j < len(p.s); j++ {
		switch b := p.s[j]; {
		case b == '"':
			p.i = j + 1
			raw := p.s[start:j]
			if !escaped && utf8.ValidString(raw) {
				return raw, true
			}
			var out string
			if json.Unmarshal([]byte(p.s[start-1:j+1]), &out) != nil {
				return "", false
			}
			return out, true
		case b == '\\':
			escaped = true
			j++
			if j >= len(p.s) {
				return "", false
			}
			switch p.s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(p.s) || !isHex(p.s[j+1]) || !isHex(p.s[j+2]) || !isHex(p.s[j+3]) || !isHex(p.s[j+4]) {
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

func isHex(b byte) bool { return isDigit(b) || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' }

// skip skips any JSON value.
func (p *liteParser) skip() bool {
	p.ws()
	if p.i >= len(p.s) {
		return false
	}
	switch b := p.s[p.i]; {
	case b == '"':
		_, ok := p.str()
		return ok
	case b == '{':
		return p.object(func(string) bool { return p.skip() })
	case b == '[':
		p.i++
		if p.eat(']') {
			return true
		}
		for {
			if !p.skip() {
				return false
			}
			if p.eat(',') {
				continue
			}
			return p.eat(']')
		}
	case b == 't':
		return p.lit("true")
	case b == 'f':
		return p.lit("false")
	case b == 'n':
		return p.null()
	case b == '-' || isDigit(b):
		return p.number()
	}
	return false
}

// number skips a number by JSON's grammar.
func (p *liteParser) number() bool {
	s, i := p.s, p.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	p.i = i
	return true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
