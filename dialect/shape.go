package dialect

import (
	"bytes"
	"unsafe"

	"github.com/runnel/runnel/sse"
)

// Shape is a token event's data but for its text, one JSON string: the
// bytes up to the string's opening quote and from its closing quote on,
// quotes and all. An upstream sends every token's event alike but for its
// text, so an event whose other bytes are the recorded ones is that event
// with another text: comparing the ends and taking the string is the whole
// parse (openai's chunkShape, anthropic's textShape). The zero Shape has
// none recorded.
type Shape struct {
	ends   []byte // the bytes with the opening quote, then those from the closing one
	before int    // how many of ends come first
}

// Buffer makes s record its ends in buf while they fit (a stream's own
// array: no allocation).
func (s *Shape) Buffer(buf []byte) { s.ends = buf[:0] }

// Set records the shape of data, whose text is the JSON string from at
// (its opening quote) to end (past its closing quote). Data of more than
// one line (joined with LF) records none: Token reads one data line.
func (s *Shape) Set(data []byte, at, end int) {
	s.ends = s.ends[:0]
	if at < 0 || end-at < 2 || end > len(data) || bytes.IndexByte(data, '\n') >= 0 {
		return
	}
	if n := len(data) - (end - at) + 2; cap(s.ends) < n { // once: not a growth for each end
		s.ends = make([]byte, 0, n)
	}
	s.ends = append(append(s.ends, data[:at+1]...), data[end-1:]...)
	s.before = at + 1
}

// Reset records no shape.
func (s *Shape) Reset() { s.ends = s.ends[:0] }

// Has reports whether s has a shape recorded.
func (s *Shape) Has() bool { return len(s.ends) > 0 }

// String is the JSON string, quotes and all, that data has where the
// recorded data had its text, when data is of the shape.
func (s *Shape) String(data []byte) ([]byte, bool) {
	after := len(s.ends) - s.before
	if len(s.ends) == 0 || len(data) < len(s.ends) ||
		!bytes.Equal(data[:s.before], s.ends[:s.before]) || !bytes.Equal(data[len(data)-after:], s.ends[s.before:]) {
		return nil, false
	}
	return data[s.before-1 : len(data)-after+1], true
}

// Token reads r's next event for a token path when it is an event named
// name ("" for none) whose data is of the shape with a plain text (ASCII,
// nothing to unescape: PlainString): the text, a view of r's buffer valid
// until r's next call. The SSE lines and the shape are matched in one
// pass over the event's bytes (sse.Reader.NextShaped). When ok is false
// r took nothing: NextRaw reads the event.
func (s *Shape) Token(r *sse.Reader, name string) (string, bool) {
	if len(s.ends) == 0 {
		return "", false
	}
	b, ok := r.NextShaped(name, s.ends[:s.before], s.ends[s.before:], &jsonPlain)
	return unsafe.String(unsafe.SliceData(b), len(b)), ok
}

// Ends is what s recorded: the bytes around the text, and how many of
// them come before it (for tests, which compare shapes).
func (s *Shape) Ends() ([]byte, int) { return s.ends, s.before }
