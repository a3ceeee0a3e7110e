package openai

import (
	"bufio"
	"bytes"
	"io"
)

// eventReader reads the data of SSE events from an upstream body, one event
// per call, following the WHATWG parsing rules for the parts OpenAI-style
// upstreams use: LF, CR or CRLF line ends, comments, multi-line data, and
// no dispatch of an unterminated last event.
type eventReader struct {
	r       *bufio.Reader
	data    []byte
	line    []byte
	started bool
	skipLF  bool // the last line ended in CR: a following LF is part of it
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{r: bufio.NewReaderSize(r, 4096)}
}

// maxEvent bounds one event's data so a garbage upstream cannot grow
// memory without limit.
const maxEvent = 4 << 20

var errEventTooLarge = &tooLargeError{}

type tooLargeError struct{}

func (*tooLargeError) Error() string { return "upstream SSE event larger than 4 MiB" }

// next returns the data of the next event. The slice is valid until the
// next call. At the end of the body it returns io.EOF (an unterminated
// event is dropped, as the spec says) or the read error.
func (er *eventReader) next() ([]byte, error) {
	er.data = er.data[:0]
	hasData := false
	for {
		line, err := er.readLine()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if hasData {
				return er.data, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(field) != "data" {
			continue // event, id, retry: OpenAI-style streams do not need them
		}
		if hasData {
			er.data = append(er.data, '\n')
		}
		hasData = true
		if len(er.data)+len(value) > maxEvent {
			return nil, errEventTooLarge
		}
		er.data = append(er.data, value...)
	}
}

// readLine returns the next line without its end.
func (er *eventReader) readLine() ([]byte, error) {
	er.line = er.line[:0]
	for {
		b, err := er.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(er.line) > 0 {
				// A last line with no end is not a complete line.
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if er.skipLF {
			er.skipLF = false
			if b == '\n' {
				continue
			}
		}
		if !er.started {
			er.started = true
			if b == 0xEF {
				// Possible UTF-8 BOM: EF BB BF.
				if p, _ := er.r.Peek(2); len(p) == 2 && p[0] == 0xBB && p[1] == 0xBF {
					er.r.Discard(2)
					continue
				}
			}
		}
		switch b {
		case '\n':
			return er.line, nil
		case '\r':
			er.skipLF = true
			return er.line, nil
		}
		if len(er.line) >= maxEvent {
			return nil, errEventTooLarge
		}
		er.line = append(er.line, b)
	}
}
