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
	// head is the bytes with the opening quote, tail those from the
	// closing one, in one array: tail is empty when none is recorded.
	head, tail []byte
}

// Buffer makes s record its ends in buf while they fit (a stream's own
// array: no allocation).
func (s *Shape) Buffer(buf []byte) { s.head = buf[:0] }

// Set records the shape of data, whose text is the JSON string from at
// (its opening quote) to end (past its closing quote). Data of more than
// one line (joined with LF) records none: Token reads one data line.
func (s *Shape) Set(data []byte, at, end int) {
	s.Reset()
	if at < 0 || end-at < 2 || end > len(data) || bytes.IndexByte(data, '\n') >= 0 {
		return
	}
	ends := s.head[:0]
	if n := len(data) - (end - at) + 2; cap(ends) < n { // once: not a growth for each end
		ends = make([]byte, 0, n)
	}
	ends = append(append(ends, data[:at+1]...), data[end-1:]...)
	s.head, s.tail = ends[:at+1], ends[at+1:]
}

// Reset records no shape.
func (s *Shape) Reset() { s.head, s.tail = s.head[:0], nil }

// Has reports whether s has a shape recorded.
func (s *Shape) Has() bool { return len(s.tail) > 0 }

// String is the JSON string, quotes and all, that data has where the
// recorded data had its text, when data is of the shape.
func (s *Shape) String(data []byte) ([]byte, bool) {
	before, after := len(s.head), len(s.tail)
	if after == 0 || len(data) < before+after ||
		!bytes.Equal(data[:before], s.head) || !bytes.Equal(data[len(data)-after:], s.tail) {
		return nil, false
	}
	return data[before-1 : len(data)-after+1], true
}

// Token reads r's next event for a token path when it is an event named
// name ("" for none) whose data is of the shape with a plain text (ASCII,
// nothing to unescape: PlainString): the text, a view of r's buffer valid
// until r's next call. The SSE lines and the shape are matched in one
// pass over the event's bytes (sse.Reader.NextShaped). When ok is false
// r took nothing: NextRaw reads the event.
func (s *Shape) Token(r *sse.Reader, name string) (string, bool) {
	b, ok := r.NextShaped(name, s.head, s.tail, &jsonPlain) // none for no tail
	return unsafe.String(unsafe.SliceData(b), len(b)), ok
}

// Ends is what s recorded: the bytes before the text and those after
// (for tests, which compare shapes).
func (s *Shape) Ends() (head, tail []byte) { return s.head, s.tail }
