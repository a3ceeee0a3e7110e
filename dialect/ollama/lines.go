package ollama

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/runnel/runnel/stream"
)

// lineReader reads a stream's NDJSON lines from its body in a pooled
// buffer of its own, not a bufio.Reader under dialect.BodyReader: it
// calls the stream's BeforeWait function itself before every read of the
// body, a layer less a read, and keeps the body's first error, by which
// the stream's Close knows the body's end (dialect.UpstreamStream.
// ReadsBody). Lines are as bufio.Reader.ReadSlice joined them: one
// longer than the buffer is joined a full buffer at a time, and is an
// error once what is joined exceeds maxLine.
type lineReader struct {
	src    io.Reader
	before stream.Waiter // or nil
	// buf is a pooled array's bytes (a test's may be shorter, and is not
	// pooled); nil once released.
	buf  []byte
	r, w int   // the unread bytes are buf[r:w]
	rerr error // the body's first error, kept after release
}

// linePool holds the line readers' buffers: a stream's would otherwise
// be an allocation and its garbage.
var linePool = sync.Pool{New: func() any { return new([lineBuffer]byte) }}

// init makes l read the lines of src, calling before (if not nil) before
// every read of it.
func (l *lineReader) init(src io.Reader, before stream.Waiter) {
	*l = lineReader{src: src, before: before, buf: linePool.Get().(*[lineBuffer]byte)[:]}
}

// release gives the buffer back to the pool: the lines read are no longer
// used, and nothing reads l after.
func (l *lineReader) release() {
	if len(l.buf) == lineBuffer {
		linePool.Put((*[lineBuffer]byte)(l.buf))
	}
	l.buf, l.src, l.before, l.r, l.w = nil, nil, nil, 0, 0
}

// next returns the next line without its newline, valid until the next
// call; a last line without a newline is returned at the body's end,
// after which next returns io.EOF.
func (l *lineReader) next() ([]byte, error) {
	if l.r == l.w && l.rerr == nil {
		// All read: an upstream's lines come a read each.
		l.r, l.w = 0, 0
		l.fill()
	}
	if i := bytes.IndexByte(l.buf[l.r:l.w], '\n'); i >= 0 {
		line := l.buf[l.r : l.r+i]
		l.r += i + 1
		return line, nil
	}
	return l.more()
}

// more is next when the buffer holds no whole line: it reads on, joining
// a line longer than the buffer in a slice of its own.
func (l *lineReader) more() ([]byte, error) {
	var long []byte
	for {
		// buf[r:w] holds no newline.
		if l.rerr != nil {
			frag := l.buf[l.r:l.w]
			l.r = l.w
			if l.rerr == io.EOF && len(frag)+len(long) > 0 {
				return append(long, frag...), nil // the last line, without a newline
			}
			return nil, l.rerr
		}
		if l.r == 0 && l.w == len(l.buf) { // full
			long = append(long, l.buf...)
			l.w = 0
			if len(long) > maxLine {
				return nil, stream.Errorf(stream.CodeUpstream, "ollama: NDJSON line longer than %d bytes", maxLine)
			}
		}
		searched := l.w - l.r
		l.fill() // which moves buf[r:w] to the front
		if i := bytes.IndexByte(l.buf[searched:l.w], '\n'); i >= 0 {
			frag := l.buf[:searched+i]
			l.r = searched + i + 1
			if long == nil {
				return frag, nil
			}
			return append(long, frag...), nil
		}
	}
}

var (
	// errBadRead is a body's answer to Read out of its contract.
	errBadRead = errors.New("ollama: body returned an impossible count from Read")
	// errReleased is a read after release, which a stream does not make.
	errReleased = errors.New("ollama: line reader read after its release")
)

// fill moves the unread bytes to the front of the buffer and reads after
// them until a read gives bytes or an error (io.ErrNoProgress after 100
// empty reads).
func (l *lineReader) fill() {
	if l.src == nil {
		l.rerr = errReleased
		return
	}
	if l.r > 0 {
		l.w = copy(l.buf, l.buf[l.r:l.w])
		l.r = 0
	}
	for range 100 {
		if l.before != nil {
			l.before.BeforeWait()
		}
		n, err := l.src.Read(l.buf[l.w:])
		if n < 0 || n > len(l.buf)-l.w {
			n, err = 0, errBadRead
		}
		l.w += n
		if err != nil {
			l.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	l.rerr = io.ErrNoProgress
}
