package dialect

import (
	"bytes"
	"unsafe"

	"github.com/runnel/runnel/internal/prefetch"
	"github.com/runnel/runnel/sse"
)

// Shape is a token event but for its text, one JSON string: the event's
// name and the data's bytes up to the string's opening quote and from
// its closing quote on, quotes and all. An upstream sends every token's
// event alike but for its text, so an event whose other bytes are the
// recorded ones is that event with another text: comparing the ends and
// taking the string is the whole parse (openai's chunkShape, anthropic's
// textShape). The zero Shape has none recorded.
type Shape struct {
	ev sse.Shape // the event's lines but for the text (NextShaped)
}

// Buffer makes s record its bytes in buf while they fit (a stream's own
// array: no allocation).
func (s *Shape) Buffer(buf []byte) { s.ev.Buffer(buf) }

// Set records the shape of data, an event named name ("" for none: the
// event's type is not read), whose text is the JSON string from at (its
// opening quote) to end (past its closing quote). Data of more than one
// line (joined with LF) records none: Token reads one data line.
func (s *Shape) Set(name string, data []byte, at, end int) {
	if at < 0 || end-at < 2 || end > len(data) {
		s.ev.Reset()
		return
	}
	s.ev.Set(name, data[:at+1], data[end-1:])
}

// SetOptional is Set for data whose last member, before its last byte,
// may be opt (`,"key":"`) with a JSON-plain string, not empty, that
// changes every event (OpenAI's obfuscation, which no parse keeps): when
// data has it, it is not recorded, and events with it (any such string)
// or without it are of the shape. Data without it records Set's shape.
func (s *Shape) SetOptional(name string, data []byte, at, end int, opt string) {
	if at >= 0 && end-at >= 2 && end <= len(data) {
		tail := data[end-1:]
		if m := member(tail, opt); m > 0 {
			s.ev.SetOptional(name, data[:at+1], tail[:m], tail[len(tail)-1:], []byte(opt))
			return
		}
	}
	s.Set(name, data, at, end)
}

// member is where tail's last member begins when it is opt (not empty)
// with a JSON-plain string, not empty, before tail's last byte, and
// something comes before it; else -1.
func member(tail []byte, opt string) int {
	n := len(tail)
	if opt == "" || n < len(opt)+4 || tail[n-2] != '"' {
		return -1
	}
	q := bytes.LastIndexByte(tail[:n-2], '"') // opt's last byte
	m := q + 1 - len(opt)
	if m < 1 || q+1 == n-2 || PlainEndBytes(tail, q+1) != n-2 || string(tail[m:q+1]) != opt {
		return -1
	}
	return m
}

// Reset records no shape.
func (s *Shape) Reset() { s.ev.Reset() }

// Prefetch brings the shape into the cache, and the bytes it compares an
// event with (sse.Shape.Prefetch).
func (s *Shape) Prefetch() {
	prefetch.Range(unsafe.Pointer(s), unsafe.Sizeof(*s))
	s.ev.Prefetch()
}

// Has reports whether s has a shape recorded.
func (s *Shape) Has() bool { return s.ev.Has() }

// String is the JSON string, quotes and all, that data has where the
// recorded data had its text, when data is of the shape.
func (s *Shape) String(data []byte) ([]byte, bool) {
	head, tail := s.ev.Data()
	before, after := len(head), len(tail)
	if after == 0 || len(data) < before+after || !bytes.Equal(data[:before], head) {
		return nil, false
	}
	if !bytes.Equal(data[len(data)-after:], tail) {
		// The optional member before the last byte (SetOptional): tail
		// but for that byte ends where the member begins.
		opt := s.ev.Optional()
		m := member(data[before:], unsafe.String(unsafe.SliceData(opt), len(opt)))
		if m < 0 || data[len(data)-1] != tail[after-1] {
			return nil, false
		}
		end := before + m
		if end-before < after-1 || !bytes.Equal(data[end-after+1:end], tail[:after-1]) {
			return nil, false
		}
		return data[before-1 : end-after+2], true
	}
	return data[before-1 : len(data)-after+1], true
}

// Token reads r's next event for a token path when it is of the shape
// with a plain text (ASCII, nothing to unescape: PlainString): the text,
// a view of r's buffer valid until r's next call. The SSE lines and the
// shape are matched in one pass over the event's bytes
// (sse.Reader.NextShaped). When ok is false r took nothing: NextRaw reads
// the event.
func (s *Shape) Token(r *sse.Reader) (string, bool) {
	b, ok := r.NextShaped(&s.ev, nil) // nil: jsonPlain's bytes, 16 a step
	// The slice's pointer and length as a string, without the checks
	// unsafe.String makes (a length NextShaped never returns): the
	// caller's token path a code line shorter.
	return *(*string)(unsafe.Pointer(&b)), ok
}

// Ends is what s recorded: the data's bytes before the text and those
// after (for tests, which compare shapes).
func (s *Shape) Ends() (head, tail []byte) { return s.ev.Data() }
