package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
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
	err     error // sticky: once the source failed or ended
	max     int
	started bool // BOM check done
	skipLF  bool // the last line ended with CR: a following LF belongs to it
	id      []byte
	idStr   string // id as a string, made when asked for
	idDirty bool   // id changed since idStr was made
	name    string // the last event type seen, reused while it repeats
	retry   time.Duration
	line    []byte
	data    []byte
}

// RawEvent is an event whose Data aliases the Reader's buffer: it is valid
// only until the next call on the Reader. It spares a parser that takes
// what it needs from the data a copy of each event.
type RawEvent struct {
	Event string // "message" when the stream named none
	Data  []byte
	Retry time.Duration
}

// readerBuffer is the size of a Reader's buffer. Upstream events are one
// to a few hundred bytes and the transport below buffers its reads (the
// upstream connection's 1 KiB, openai.UpstreamReadBuffer), so 512 bytes
// seldom splits a line (a longer one is joined in r.line, at no extra
// system call), and an open stream holds 512 bytes, not the 4 KiB page a
// larger buffer keeps resident.
const readerBuffer = 512

// Buffers are pooled: a streaming gateway opens a Reader per upstream call,
// and their buffers would otherwise be most of its garbage.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerBuffer) }}

// NewReader returns a Reader of r with DefaultMaxEventSize.
func NewReader(r io.Reader) *Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return &Reader{br: br, max: DefaultMaxEventSize}
}

// SetMaxEventSize sets the size limit of one event in bytes.
func (r *Reader) SetMaxEventSize(n int) { r.max = n }

// LastID is the stream's last event id so far.
func (r *Reader) LastID() string {
	if r.idDirty {
		r.idStr, r.idDirty = string(r.id), false
	}
	return r.idStr
}

// Retry is the reconnection delay the stream asked for so far, or 0.
func (r *Reader) Retry() time.Duration { return r.retry }

// Next returns the next event. At the end of the stream it returns io.EOF
// (an unterminated event is dropped); other errors are the underlying
// reader's, or ErrTooLong.
func (r *Reader) Next() (Event, error) {
	ev, err := r.NextRaw()
	if err != nil {
		return Event{}, err
	}
	return Event{ID: r.LastID(), Event: ev.Event, Data: string(ev.Data), Retry: ev.Retry}, nil
}

// NextRaw is Next without copying the data: see RawEvent.
func (r *Reader) NextRaw() (RawEvent, error) {
	if ev, ok, err := r.plainEvent(); ok {
		return ev, err
	}
	var (
		hasData   bool
		eventType string
		retry     time.Duration
		size      int
	)
	r.data = r.data[:0]
	for {
		line, err := r.readLine()
		if err != nil {
			return RawEvent{}, r.fail(err)
		}
		if len(line) == 0 {
			if !hasData {
				eventType, retry, size = "", 0, 0
				continue
			}
			if eventType == "" {
				eventType = "message"
			}
			return RawEvent{Event: eventType, Data: r.data, Retry: retry}, nil
		}
		if size += len(line); size > r.max {
			return RawEvent{}, ErrTooLong
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
			if string(value) != r.name {
				r.name = string(value)
			}
			eventType = r.name
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id, r.idDirty = append(r.id[:0], value...), true
			}
		case "retry":
			if ms, ok := digits(value); ok {
				retry = time.Duration(ms) * time.Millisecond
				r.retry = retry
			}
		}
	}
}

// plainEvent takes the commonest events, up to two "event:" or "id:"
// lines, one "data:" line and a blank line, LF-ended, all already in the
// buffer, whole: a scan a line and its data left in place, where NextRaw
// would read it a line at a time and copy the data. Anything else (a
// comment, a retry, a CR, a line the buffer does not hold yet) is left to
// NextRaw's line loop.
func (r *Reader) plainEvent() (RawEvent, bool, error) {
	if r.err != nil || !r.started || r.skipLF {
		return RawEvent{}, false, nil
	}
	if r.br.Buffered() == 0 {
		// An upstream's events come a read each: read as the line loop
		// would, and end as it would on an error.
		if _, err := r.br.Peek(1); err != nil {
			return RawEvent{}, true, r.fail(err)
		}
	}
	buf, _ := r.br.Peek(r.br.Buffered())
	var (
		id, name     []byte
		hasID, named bool
		n, lines     int
	)
	for ; lines < 2 && n < len(buf) && buf[n] != 'd'; lines++ {
		if v, m, ok := plainField(buf[n:], "id:"); ok {
			if bytes.IndexByte(v, 0) < 0 { // the line loop ignores it too
				id, hasID = v, true
			}
			n += m
		} else if v, m, ok := plainField(buf[n:], "event:"); ok {
			name, named = v, true
			n += m
		} else {
			break
		}
	}
	data, m, ok := plainField(buf[n:], "data:")
	n += m
	if !ok || n >= len(buf) || buf[n] != '\n' || n-lines-1 > r.max {
		return RawEvent{}, false, nil
	}
	if hasID {
		r.id, r.idDirty = append(r.id[:0], id...), true
	}
	if named && string(name) != r.name {
		r.name = string(name)
	}
	eventType := "message"
	if named && r.name != "" {
		eventType = r.name
	}
	// Discard only moves the read position: data stays intact until the
	// next read.
	r.br.Discard(n + 1)
	return RawEvent{Event: eventType, Data: data}, true, nil
}

// plainField is the value of the field line at the start of b if it is
// the named one and ends in LF with no CR before, and the line's length
// with its LF.
func plainField(b []byte, name string) (value []byte, n int, ok bool) {
	if len(b) <= len(name) || string(b[:len(name)]) != name {
		return nil, 0, false
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 || bytes.IndexByte(b[len(name):i], '\r') >= 0 {
		return nil, 0, false
	}
	value = b[len(name):i]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return value, i + 1, true
}

// fail ends the stream on a read error: the end of the source (or an
// unterminated last line) is io.EOF.
func (r *Reader) fail(err error) error {
	r.release(err)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

// Release returns the Reader's buffer to the pool when the Reader is done
// with the stream, so the next Reader reuses it; Next then returns io.EOF.
// A Reader that read to the end of its stream releases it by itself.
func (r *Reader) Release() { r.release(io.EOF) }

func (r *Reader) release(err error) {
	if r.err == nil {
		r.err = err
	}
	if r.br != nil {
		r.br.Reset(nil)
		readerPool.Put(r.br)
		r.br = nil
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
// only valid until the next call: a line wholly in the buffer is returned
// in place, without a copy. A final line without an end is reported as
// io.ErrUnexpectedEOF, since the spec drops it anyway.
func (r *Reader) readLine() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
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
		i := lineEnd(buf)
		if len(r.line)+i > r.max {
			return nil, ErrTooLong
		}
		if i == len(buf) {
			r.line = append(r.line, buf...)
			r.br.Discard(i)
			continue
		}
		r.skipLF = buf[i] == '\r'
		// Discard only moves the read position: buf stays intact until
		// the next read.
		r.br.Discard(i + 1)
		if len(r.line) == 0 {
			return buf[:i], nil
		}
		r.line = append(r.line, buf[:i]...)
		return r.line, nil
	}
}

// lineEnd is the index of the first CR or LF in b, or len(b). Two
// IndexByte scans beat one IndexAny: lines rarely hold a CR.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		i = len(b)
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
