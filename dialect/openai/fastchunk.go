package openai

import (
	"bytes"
	"strings"
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
	c, _, _, ok = parseLiteAt(data)
	return c, ok
}

// parseLiteAt is parseLite, also returning where in data the string that
// c.content holds begins (its opening quote), or -1 when c.content came
// from no string (none, or null after it); and the length of data's head
// (see chunkShape.head), or -1 when a key it reads comes before choices.
func parseLiteAt(data string) (c liteChunk, contentAt, head int, ok bool) {
	return parseLiteFrom(data, 0)
}

// parseLiteFrom is parseLiteAt from the start of data (from 0) or, for a
// chunk that begins with a head parseLiteAt found (from its length, the
// choices' value next), from the end of that head. A head holds only keys
// the parse skips, each once checked by the parse that found it, so the
// same bytes always parse to the same state: where it ends, nothing read
// yet but the choices key. Parsing on from there is the whole parse.
func parseLiteFrom(data string, from int) (c liteChunk, contentAt, head int, ok bool) {
	p := liteParser{EventScanner: dialect.EventScanner{S: data}, contentAt: -1}
	head = -1
	seen, known := false, false // choices; any key the chunk reads
	field := func(key string) bool {
		switch key {
		case "choices":
			if seen {
				return false
			}
			if !known {
				head = p.I
			}
			seen, known = true, true
			return p.choices(&c)
		case "usage":
			known = true
			return p.usage(&c.usage)
		case "error":
			known = true
			return p.Null()
		}
		return p.other(key, "choices", "usage", "error")
	}
	if from > 0 {
		p.I, head = from, from
		seen, known = true, true
		ok = p.choices(&c) && p.Rest(field)
	} else {
		p.WS()
		ok = p.Object(field)
	}
	if !ok {
		return c, -1, -1, false
	}
	p.WS()
	return c, p.contentAt, head, p.I == len(p.S)
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
	return parseLiteFull(data, sh)
}

// parseLiteFull is parseLiteBytes without trying sh first: from the end
// of sh's head when data begins with it, else from the start.
func parseLiteFull(data []byte, sh *chunkShape) (c liteChunk, ok bool) {
	from, recorded := 0, false
	if sh != nil {
		if sh.json {
			return c, false
		}
		if len(sh.head) > 0 && bytes.HasPrefix(data, sh.head) {
			from, recorded = len(sh.head), true
		}
	}
	if from == 0 && (sh == nil || !sh.off) {
		from = firstHead(data)
	}
	// A chunk with a head is most often one of a call's fixed chunks.
	at, ok, head := -1, false, from
	if from > 0 {
		at, ok = fixedChunk(data, from, &c)
	}
	if !ok {
		c, at, head, ok = parseLiteFrom(unsafe.String(unsafe.SliceData(data), len(data)), from)
	}
	if ok {
		c.own()
		if sh != nil {
			first := cap(sh.head) == 0
			sh.room(len(data))
			if !first || !sh.expect(data, from, at, &c) {
				sh.set(data, at, &c)
			}
			if !recorded {
				sh.setHead(data, head)
			}
		}
	}
	return c, ok
}

// own copies c's strings out of the event data, which the reader
// reuses: one copy of strings.Clone's code in a loop, where four inlined
// took parseLiteFull's lines (docs/benchmarks.md, issue 13, tokfoot2
// session).
func (c *liteChunk) own() {
	for _, s := range [...]*string{&c.content, &c.reasoningContent, &c.reasoning, &c.text} {
		*s = strings.Clone(*s)
	}
	c.finish = keptFinish(c.finish)
}

// chunkShape is a stream's last per-token chunk without its content
// string: the bytes before and after it, and what the rest of the chunk
// parsed to. An upstream sends every token's chunk with the same id,
// created, model and trailing fields, so a chunk whose bytes are the
// same but for one JSON string where the content was is that chunk with
// other content: comparing the two ends and parsing the one string is the
// whole parse (about 4,000 of the hop's 20,000 instructions a token).
type chunkShape struct {
	str   dialect.Shape // the chunk's bytes but for its content string's
	chunk liteChunk
	// plain says the chunk carries nothing but its content: no reasoning,
	// legacy text, finish or usage.
	plain bool
	// head is the bytes the last chunk parsed in full began with, up to
	// the value of its choices: `{"id":"…","object":"chat.completion.chunk",
	// "created":…,"model":"…","choices":`, the same on every chunk of a
	// stream. A chunk the shape does not take (the first of another shape,
	// the finish and usage chunks) but that begins with it is parsed from
	// there on, its head only compared (parseLiteFrom).
	head []byte
	// event is the SSE type of the chunk parsed next, for the shape's
	// event line: "message" (or "") is none (an upstream that sends
	// `event: message` takes Recv's path).
	event string
	off   bool // record no shape nor head: every chunk parses in full (tests)
	json  bool // parse nothing: every chunk goes to encoding/json (tests)
	// texts keeps the contents parse returned: a token's few bytes are
	// copied out of the event data without an allocation of their own.
	texts dialect.Texts
}

// set records data's shape, when c.content came from the string at at.
func (sh *chunkShape) set(data []byte, at int, c *liteChunk) {
	sh.str.Reset()
	if at < 0 || sh.off {
		return
	}
	p := liteParser{EventScanner: dialect.EventScanner{S: unsafe.String(unsafe.SliceData(data), len(data)), I: at}}
	if _, ok := p.Str(); !ok {
		return
	}
	sh.str.SetOptional(sh.eventName(), data, at, p.I, obfuscation)
	sh.keep(c)
}

// obfuscation opens the member OpenAI adds last to every chunk by default
// (stream_options.include_obfuscation): random padding, another on every
// chunk, which the parse skips. A shape recorded from a chunk with it
// takes chunks with any padding there (dialect.Shape.SetOptional): the
// real API's tokens are read by the shape, not parsed in full each.
const obfuscation = `,"obfuscation":"`

// keep records c as what the shape's chunks carry but for their content.
func (sh *chunkShape) keep(c *liteChunk) {
	sh.chunk = *c
	sh.plain = c.reasoningContent == "" && c.reasoning == "" && c.text == "" &&
		!(c.hasFinish && c.finish != "") && !c.usage.has
}

// room gives the head and the shape, at the stream's first full parse,
// one allocation for both, each room for a chunk of n bytes: they are
// recorded together, and live as long as the stream.
func (sh *chunkShape) room(n int) {
	if cap(sh.head) > 0 || sh.off {
		return
	}
	// sse.Shape.SetOptional's lines take the data less its content's
	// run and 16 bytes more, 18 with an obfuscation member.
	buf := make([]byte, 2*n+len(sh.event)+18)
	sh.head = buf[:0:n]
	sh.str.Buffer(buf[n:])
}

// eventName is the shape's event line's name: none for "message".
func (sh *chunkShape) eventName() string {
	if sh.event == "message" {
		return ""
	}
	return sh.event
}

// setHead records data's head, the first head bytes of it (none if -1).
func (sh *chunkShape) setHead(data []byte, head int) {
	sh.head = sh.head[:0]
	if head > 0 && !sh.off {
		sh.head = append(sh.head, data[:head]...)
	}
}

// parse parses data as the recorded chunk with another content string.
func (sh *chunkShape) parse(data []byte) (liteChunk, bool) {
	content, ok := sh.content(data)
	if !ok {
		return liteChunk{}, false
	}
	c := sh.chunk
	c.content = content
	return c, true
}

// content is parse's content string alone (kept, see texts), for callers
// that need nothing else of a plain shape's chunk.
func (sh *chunkShape) content(data []byte) (_ string, ok bool) {
	b, ok := sh.str.String(data)
	if !ok {
		return "", false
	}
	// What lies between the two ends must be one JSON string: a plain
	// one (the common token) is its bytes between the quotes; any other
	// is parsed as Str parses it.
	str := unsafe.String(unsafe.SliceData(b), len(b))
	if dialect.PlainString(str) {
		str = str[1 : len(str)-1]
	} else if str, ok = parsedString(str); !ok {
		return "", false
	}
	return sh.texts.Keep(str), true
}

// parsedString is str, one JSON string and nothing else, parsed as Str
// parses it (out of line: escapes are rare, and Str inlined in content
// was most of its code).
//
//go:noinline
func parsedString(str string) (string, bool) {
	p := liteParser{EventScanner: dialect.EventScanner{S: str}}
	content, ok := p.Str()
	if !ok || p.I != len(str) {
		return "", false
	}
	return content, true
}

type liteParser struct {
	dialect.EventScanner
	// contentAt is where the string c.content was last set from begins,
	// or -1 (parseLiteAt).
	contentAt int
}

func (p *liteParser) choices(c *liteChunk) bool {
	if !p.Eat('[') {
		return false
	}
	if p.Eat(']') {
		return true
	}
	p.WS()
	ok := p.Object(func(key string) bool {
		switch key {
		case "index":
			n := -1 // null is not taken
			return p.Int(&n) && n == 0
		case "delta":
			return p.Object(func(key string) bool {
				switch key {
				case "content":
					at := p.I
					if !p.strOrNull(&c.content) {
						return false
					}
					if p.S[at] != '"' {
						at = -1 // null
					}
					p.contentAt = at
					return true
				case "reasoning_content":
					return p.strOrNull(&c.reasoningContent)
				case "reasoning":
					return p.strOrNull(&c.reasoning)
				case "tool_calls", "function_call":
					return p.Null()
				}
				return p.other(key, "content", "reasoning_content", "reasoning", "tool_calls", "function_call")
			})
		case "text":
			return p.strOrNull(&c.text)
		case "logprobs":
			// Non-null logprobs are the event's to carry: encoding/json
			// keeps them raw.
			return p.Null()
		case "finish_reason":
			c.finish, c.hasFinish = "", false
			if p.Null() {
				return true
			}
			var ok bool
			c.finish, ok = p.Str()
			c.hasFinish = ok
			return ok
		}
		return p.other(key, "index", "delta", "text", "finish_reason", "logprobs")
	})
	// A second choice is not a per-token chunk of ours.
	return ok && p.Eat(']')
}

// usage parses a usage object into u as encoding/json does into the *Usage
// it reuses: a repeated key merges into what an earlier one set, and null
// drops it.
func (p *liteParser) usage(u *liteUsage) bool {
	if p.Null() {
		*u = liteUsage{}
		return true
	}
	if !u.has {
		*u = liteUsage{has: true}
	}
	return p.Object(func(key string) bool {
		switch key {
		case "prompt_tokens":
			return p.Int(&u.prompt)
		case "completion_tokens":
			return p.Int(&u.completion)
		case "total_tokens":
			return p.Int(&u.total)
		case "completion_tokens_details":
			if p.Null() {
				u.hasDetails, u.reasoning = false, 0
				return true
			}
			if !u.hasDetails {
				u.hasDetails, u.reasoning = true, 0
			}
			return p.Object(func(key string) bool {
				if key == "reasoning_tokens" {
					return p.Int(&u.reasoning)
				}
				return p.other(key, "reasoning_tokens")
			})
		}
		return p.other(key, "prompt_tokens", "completion_tokens", "total_tokens", "completion_tokens_details")
	})
}

// other skips the value of a key the chunk does not need. encoding/json
// matches keys case-insensitively, so a key that differs from a known one
// only in case is left to it.
func (p *liteParser) other(key string, known ...string) bool {
	return !dialect.MatchesAny(key, known...) && p.Skip()
}

func (p *liteParser) strOrNull(dst *string) bool {
	if p.Null() {
		*dst = ""
		return true
	}
	s, ok := p.Str()
	*dst = s
	return ok
}
