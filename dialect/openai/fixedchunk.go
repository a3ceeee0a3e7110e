package openai

import (
	"bytes"
	"unsafe"

	"github.com/runnel/runnel/dialect"
)

// fixedChunk parses data from from, the end of its head (the choices'
// value next), when the rest has one of the forms upstreams write every
// call: the first chunk (the role, with or without content), the finish
// chunk and the usage chunk, as OpenAI, vLLM, llama.cpp's server, Ollama
// and LM Studio send them. They are not of the token shape, and their
// full parse (parseLiteFrom: a closure, a key's string and a look-up for
// each key) was a call's largest fixed cost on the upstream side. Here
// each member is a literal compare.
//
// Taken, with no whitespace: `[]`, or one choice `[{"index":0,"delta":{…}`
// (llama.cpp's `"finish_reason":…,` may come first) with an optional
// `,"logprobs":null`, `,"finish_reason":` null or a plain string, and
// `,"stop_reason":` (vLLM's) null, a plain string or an unsigned integer,
// then `}]`; the delta empty, `"role":"assistant"`, its content (a string
// or null) after it or alone, and `,"refusal":null` after the content.
// Then members until the closing brace: `"usage":` (fixedCursor.usage),
// or a key of fixedCursor.key's but usage, error and choices with a plain
// string or an unsigned integer (firstHead's values). Anything else is
// false, and parseLiteFrom parses the chunk as before; what is taken
// parses to the same chunk and content's place (FuzzFixedChunk). finish
// and content are views of data. The chunk is made in c, which holds
// what it read so far when ok is false: where a liteChunk returned by
// value was some 130 bytes copied at each of the many returns, 2,693
// bytes of code a call ran three times (docs/benchmarks.md, issue 13,
// tokfoot2 session).
func fixedChunk(data []byte, from int, c *liteChunk) (contentAt int, ok bool) {
	f := fixedCursor{b: data, i: from}
	*c = liteChunk{}
	contentAt = -1
	if !f.lit(`[]`) {
		if !f.lit(`[{`) {
			return -1, false
		}
		if f.lit(`"finish_reason":`) && !(f.finish(c) && f.lit(`,`)) || !f.lit(`"index":0,"delta":{`) {
			return -1, false
		}
		role := f.lit(`"role":"assistant"`)
		if !role || f.lit(`,`) {
			if f.lit(`"content":`) {
				if !f.lit(`null`) {
					contentAt = f.i
					if c.content, ok = f.str(); !ok {
						return -1, false
					}
				}
				f.lit(`,"refusal":null`)
			} else if role {
				return -1, false
			}
		}
		if !f.lit(`}`) {
			return -1, false
		}
		f.lit(`,"logprobs":null`)
		if f.lit(`,"finish_reason":`) && !f.finish(c) {
			return -1, false
		}
		if f.lit(`,"stop_reason":`) && !f.lit(`null`) && !f.value() {
			return -1, false
		}
		if !f.lit(`}]`) {
			return -1, false
		}
	}
	for !f.lit(`}`) {
		if f.lit(`,"usage":`) {
			if !f.usage(&c.usage) {
				return -1, false
			}
			continue
		}
		if !f.lit(`,"`) {
			return -1, false
		}
		if k := f.key(); k == "" || k == "usage" || k == "error" || k == "choices" || !f.value() {
			return -1, false
		}
	}
	return contentAt, f.i == len(f.b)
}

// fixedCursor reads fixedChunk's bytes: b from i.
type fixedCursor struct {
	b []byte
	i int
}

// lit consumes l if the bytes go on with it. It inlines at every one
// of fixedChunk's compares: the bytes compared are a view from i (0 <=
// i <= len(b)) without a check and a panic's call at each.
func (f *fixedCursor) lit(l string) bool {
	v := struct {
		p unsafe.Pointer
		n int
	}{unsafe.Add(unsafe.Pointer(unsafe.SliceData(f.b)), f.i), len(l)}
	if len(f.b)-f.i >= len(l) && *(*string)(unsafe.Pointer(&v)) == l {
		f.i += len(l)
		return true
	}
	return false
}

// str reads the JSON string at i as EventScanner.Str does (a view of
// b when it has no escapes).
func (f *fixedCursor) str() (string, bool) {
	p := dialect.EventScanner{S: unsafe.String(unsafe.SliceData(f.b), len(f.b)), I: f.i}
	s, ok := p.Str()
	f.i = p.I
	return s, ok
}

// plain reads a string of plain bytes (dialect.PlainEndBytes), a view of
// b.
func (f *fixedCursor) plain() (string, bool) {
	if f.i >= len(f.b) || f.b[f.i] != '"' {
		return "", false
	}
	j := dialect.PlainEndBytes(f.b, f.i+1)
	if j >= len(f.b) || f.b[j] != '"' {
		return "", false
	}
	s := unsafe.String(unsafe.SliceData(f.b[f.i+1:]), j-f.i-1)
	f.i = j + 1
	return s, true
}

// finish reads a finish reason into c as liteParser.choices does: null
// or a plain string.
func (f *fixedCursor) finish(c *liteChunk) bool {
	if f.lit(`null`) {
		c.finish, c.hasFinish = "", false
	} else if s, ok := f.plain(); ok {
		c.finish, c.hasFinish = s, true
	} else {
		return false
	}
	return true
}

// value skips a plain string or an unsigned integer (plainValueEnd).
func (f *fixedCursor) value() bool {
	if f.i >= len(f.b) {
		return false
	}
	j := plainValueEnd(f.b, f.i)
	f.i = j
	return j != 0
}

// key reads a key of lower-case letters and '_' and its colon, the
// opening quote read: "" for any other. Such a key is what
// parseLiteFrom's look-up (dialect.MatchesAny, case-insensitive) takes
// for the name it equals and for no other.
func (f *fixedCursor) key() string {
	k := f.i
	j := k
	for j < len(f.b) && (f.b[j] >= 'a' && f.b[j] <= 'z' || f.b[j] == '_') {
		j++
	}
	if j == k || j+1 >= len(f.b) || f.b[j] != '"' || f.b[j+1] != ':' {
		return ""
	}
	f.i = j + 2
	return unsafe.String(unsafe.SliceData(f.b[k:]), j-k)
}

// uint reads an unsigned integer as EventScanner.Int takes one: at most
// 18 digits, no leading zero, no fraction or exponent after it.
func (f *fixedCursor) uint(dst *int) bool {
	i, n := f.i, 0
	for ; i < len(f.b) && f.b[i] >= '0' && f.b[i] <= '9'; i++ {
		n = n*10 + int(f.b[i]-'0')
	}
	if d := i - f.i; d == 0 || d > 18 || d > 1 && f.b[f.i] == '0' ||
		i < len(f.b) && (f.b[i] == '.' || f.b[i] == 'e' || f.b[i] == 'E') {
		return false
	}
	*dst, f.i = n, i
	return true
}

// usage reads a usage value into u as liteParser.usage does: null drops
// what an earlier usage set, an object merges into it. Its members are
// the three counts (unsigned integers), completion_tokens_details (null
// or counts) and any other key of fixedCursor.key's with an unsigned
// integer, null or counts (prompt_tokens_details).
func (f *fixedCursor) usage(u *liteUsage) bool {
	if f.lit(`null`) {
		*u = liteUsage{}
		return true
	}
	if !f.lit(`{`) {
		return false
	}
	if !u.has {
		*u = liteUsage{has: true}
	}
	if f.lit(`}`) {
		return true
	}
	if !f.lit(`"`) {
		return false
	}
	for {
		// The keys as literals (each a compare), any other by its bytes.
		var ok bool
		switch {
		case f.lit(`prompt_tokens":`):
			ok = f.uint(&u.prompt)
		case f.lit(`completion_tokens":`):
			ok = f.uint(&u.completion)
		case f.lit(`total_tokens":`):
			ok = f.uint(&u.total)
		case f.lit(`completion_tokens_details":`):
			if ok = f.lit(`null`); ok {
				u.hasDetails, u.reasoning = false, 0
				break
			}
			if !u.hasDetails {
				u.hasDetails, u.reasoning = true, 0
			}
			ok = f.counts(&u.reasoning)
		default:
			var n int
			ok = f.key() != "" && (f.uint(&n) || f.lit(`null`) || f.counts(nil))
		}
		if !ok {
			return false
		}
		if f.lit(`}`) {
			return true
		}
		if !f.lit(`,"`) {
			return false
		}
	}
}

// counts reads an object of counts (fixedCursor.key's keys, unsigned
// integers), reasoning_tokens into reasoning when it is not nil.
func (f *fixedCursor) counts(reasoning *int) bool {
	if !f.lit(`{`) {
		return false
	}
	if f.lit(`}`) {
		return true
	}
	for {
		var n int
		if !f.lit(`"`) {
			return false
		}
		k := f.key()
		if k == "" || !f.uint(&n) {
			return false
		}
		if k == "reasoning_tokens" && reasoning != nil {
			*reasoning = n
		}
		if f.lit(`}`) {
			return true
		}
		if !f.lit(`,`) {
			return false
		}
	}
}

// keptFinish is a finish reason kept past the event it came in: the
// common ones without a copy.
func keptFinish(s string) string {
	switch s {
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	case "function_call":
		return "function_call"
	}
	return string([]byte(s))
}

// roleDelta is how the role chunk's choice begins in most upstreams, its
// content next; tokenDelta is how a token chunk's does.
const (
	roleDelta  = `[{"index":0,"delta":{"role":"assistant",`
	tokenDelta = `[{"index":0,"delta":{`
)

// expect records, for a stream's first chunk when it is a role chunk with
// content and nothing more (a head at from, its content's string at at),
// the shape of the token chunks that follow: the same bytes without the
// role and OpenAI's `,"refusal":null`. The first token is then read by
// the shape (and the token path) too, not parsed in full as another
// shape. An upstream whose token chunks differ (Ollama's repeat the role)
// misses it once, and its next chunk records its own.
func (sh *chunkShape) expect(data []byte, from, at int, c *liteChunk) bool {
	if at < 0 || from <= 0 || c.hasFinish || c.usage.has || sh.off ||
		!bytes.HasPrefix(data[from:], []byte(roleDelta)) {
		return false
	}
	p := dialect.EventScanner{S: unsafe.String(unsafe.SliceData(data), len(data)), I: at}
	if _, ok := p.Str(); !ok {
		return false
	}
	var buf [512]byte
	b := append(append(buf[:0], data[:from]...), tokenDelta...)
	tokenAt := len(b) + at - from - len(roleDelta)
	b = append(b, data[from+len(roleDelta):p.I]...)
	end := len(b)
	b = append(b, bytes.TrimPrefix(data[p.I:], []byte(`,"refusal":null`))...)
	sh.str.SetOptional(sh.eventName(), b, tokenAt, end, obfuscation)
	// The role and the refusal are skipped by any parse, so a chunk of
	// the new shape carries what this one does but for its content.
	sh.keep(c)
	return true
}
