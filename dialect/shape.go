package dialect

import (
	"bytes"
	"unsafe"

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

// Reset records no shape.
func (s *Shape) Reset() { s.ev.Reset() }

// Has reports whether s has a shape recorded.
func (s *Shape) Has() bool { return s.ev.Has() }

// String is the JSON string, quotes and all, that data has where the
// recorded data had its text, when data is of the shape.
func (s *Shape) String(data []byte) ([]byte, bool) {
	head, tail := s.ev.Data()
	before, after := len(head), len(tail)
	if after == 0 || len(data) < before+after ||
		!bytes.Equal(data[:before], head) || !bytes.Equal(data[len(data)-after:], tail) {
		return nil, false
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
	return unsafe.String(unsafe.SliceData(b), len(b)), ok
}

// Ends is what s recorded: the data's bytes before the text and those
// after (for tests, which compare shapes).
func (s *Shape) Ends() (head, tail []byte) { return s.ev.Data() }
