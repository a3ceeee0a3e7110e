package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// Event is one dispatched event.
type Event struct {
	// ID is the stream's last event id when the event was dispatched: the
	// value a reconnecting client sends as Last-Event-ID.
	ID string
	// Event is the event type, "message" when the stream named none.
	Event string
	// Data is the event's data lines joined with LF.
	Data string
	// Retry is the reconnection delay set by a retry field in this event's
	// block, or 0.
	Retry time.Duration
}

// DefaultMaxEventSize bounds one event (all its lines) in a Reader.
const DefaultMaxEventSize = 1 << 20

// ErrTooLong is returned when an event exceeds the Reader's size limit.
var ErrTooLong = errors.New("sse: event too long")

// Reader parses an event stream by the WHATWG HTML rules: lines end with
// LF, CR or CRLF; a leading BOM is dropped; comment lines are ignored;
// data lines are joined with LF; an id containing NUL is ignored; an event
// with no data, or one the stream ends before terminating, is not
// dispatched.
type Reader struct {
	br      *bufio.Reader
	max     int
	started bool // BOM check done
	skipLF  bool // the last line ended with CR: a following LF belongs to it
	lastID  string
	retry   time.Duration
	line    []byte
}

// NewReader returns a Reader of r with DefaultMaxEventSize.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReader(r), max: DefaultMaxEventSize}
}

// SetMaxEventSize sets the size limit of one event in bytes.
func (r *Reader) SetMaxEventSize(n int) { r.max = n }

// LastID is the stream's last event id so far.
func (r *Reader) LastID() string { return r.lastID }

// Retry is the reconnection delay the stream asked for so far, or 0.
func (r *Reader) Retry() time.Duration { return r.retry }

// Next returns the next event. At the end of the stream it returns io.EOF
// (an unterminated event is dropped); other errors are the underlying
// reader's, or ErrTooLong.
func (r *Reader) Next() (Event, error) {
	var (
		data      strings.Builder
		hasData   bool
		eventType string
		retry     time.Duration
		size      int
	)
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return Event{}, io.EOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !hasData {
				eventType, retry, size = "", 0, 0
				continue
			}
			if eventType == "" {
				eventType = "message"
			}
			return Event{ID: r.lastID, Event: eventType, Data: data.String(), Retry: retry}, nil
		}
		if size += len(line); size > r.max {
			return Event{}, ErrTooLong
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
		switch string(field) {
		case "event":
			eventType = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
			}
		case "retry":
			if ms, ok := digits(value); ok {
				retry = time.Duration(ms) * time.Millisecond
				r.retry = retry
			}
		}
	}
}

// digits parses a non-empty run of ASCII digits.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
		return 0, false
	}
	return n, true
}

// readLine returns the next line without its end. The returned slice is
// only valid until the next call. A final line without an end is reported
// as io.ErrUnexpectedEOF, since the spec drops it anyway.
func (r *Reader) readLine() ([]byte, error) {
	if !r.started {
		r.started = true
		if b, err := r.br.Peek(3); err == nil && string(b) == "\ufeff" {
			r.br.Discard(3)
		}
	}
	if r.skipLF {
		r.skipLF = false
		if b, err := r.br.Peek(1); err == nil && b[0] == '\n' {
			r.br.Discard(1)
		}
	}
	r.line = r.line[:0]
	for {
		// Scan what is buffered (reading more only when nothing is) for
		// the next CR or LF.
		buf, err := r.br.Peek(max(r.br.Buffered(), 1))
		if len(buf) == 0 {
			if err == io.EOF && len(r.line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			i = len(buf)
		}
		if len(r.line)+i > r.max {
			return nil, ErrTooLong
		}
		r.line = append(r.line, buf[:i]...)
		if i == len(buf) {
			r.br.Discard(i)
			continue
		}
		r.skipLF = buf[i] == '\r'
		r.br.Discard(i + 1)
		return r.line, nil
	}
}
