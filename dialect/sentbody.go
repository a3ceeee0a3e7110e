package dialect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// NewUpstreamPost returns a POST of *body to url for a streamed upstream
// call, and takes *body over. net/http keeps a request, its body and the
// copy it keeps for a retry (GetBody) until the response body is closed,
// i.e. for the whole stream, and a prompt is often many kilobytes. A body
// longer than short is therefore a SentBody, whose bytes go back to the
// pool (PutBuffer) for the next call's body once nothing can read them:
// the caller calls Release once Do has returned (nil for a short body;
// Release on nil does nothing). A short body is copied to a bytes.Reader
// of its own length (*body goes back at once), which net/http writes with
// the headers in one write; a long one is written after them, in as many
// writes as before (short is the connection's write buffer: such a body
// never fit in the same write anyway).
func NewUpstreamPost(ctx context.Context, url string, body *[]byte, short int) (*http.Request, *SentBody, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		PutBuffer(body)
		return nil, nil, err
	}
	return r, setBody(r, body, short), nil
}

// setBody gives r *body, as NewUpstreamPost describes, and takes *body
// over.
func setBody(r *http.Request, body *[]byte, short int) *SentBody {
	b := *body
	r.ContentLength = int64(len(b))
	if len(b) <= short {
		// Kept for the stream: a copy of its own length, the buffer back
		// to the pool.
		if len(b) == 0 {
			PutBuffer(body)
			r.Body, r.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
			return nil
		}
		c := bytes.Clone(b)
		PutBuffer(body)
		r.Body = io.NopCloser(bytes.NewReader(c))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c)), nil }
		return nil
	}
	s := &SentBody{buf: body, b: b}
	s.refs.Store(2) // the call's and r.Body's
	r.Body, r.GetBody = &sentReader{b: b, buf: body, s: s}, s.again
	return s
}

// SentBody is a long upstream body's bytes, shared by every reader of
// them and by the call. net/http may read them again after the request's
// own body has ended: an HTTP/2 transport retries a stream the server
// refused or dropped with GOAWAY, HTTP/1 one that failed on a reused
// connection before any answer (with nothing written, or with an
// Idempotency-Key header), and a client follows a 307 or 308 with them;
// each through GetBody, at any time until RoundTrip or Do returns, and the
// transport may read a body after RoundTrip returned (an upstream that
// answered early) and close it from another goroutine. So each reader
// (the request's body, one per GetBody) holds a reference until its end
// or its Close, the call holds one until it can no longer resend
// (Release), and the last to let go gives the bytes back: nothing reads
// them after, and every resend is of the same bytes.
type SentBody struct {
	buf  *[]byte // the pool's box, which goes back with the last reference
	b    []byte  // *buf, for GetBody
	refs atomic.Int32
}

// errBodyGivenBack is GetBody's error once the call let go: net/http
// never asks then (Release comes after RoundTrip and Do return).
var errBodyGivenBack = errors.New("dialect: the upstream request body was already given back")

// again is the request's GetBody: a reader of its own over the bytes.
func (s *SentBody) again() (io.ReadCloser, error) {
	buf, b := s.buf, s.b
	for buf != nil {
		n := s.refs.Load()
		if n <= 0 {
			break
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return &sentReader{b: b, buf: buf, s: s}, nil
		}
	}
	return nil, errBodyGivenBack
}

// Release lets go of the call's reference: call it once, once RoundTrip
// or Do has returned (and a redirect's resend has its reader), after
// which nothing asks GetBody. s keeps no pointer to the bytes after: the
// request keeps s in its GetBody for the whole stream (the response's
// Request), and a reader that a transport drops without closing it then
// holds the bytes only as long as it lives.
func (s *SentBody) Release() {
	if s != nil {
		buf := s.buf
		s.buf, s.b = nil, nil
		s.unref(buf)
	}
}

// unref drops a reference to buf; the last gives it back.
func (s *SentBody) unref(buf *[]byte) {
	if s.refs.Add(-1) == 0 {
		releaseBuffer(buf, &poisonedSent)
	}
}

// sentReader reads b once and lets go of its reference at its end or its
// Close, whichever comes first. The transport may close a body while
// another of its goroutines reads it (HTTP/2 closes it in a goroutine of
// its own when a stream ends early): the lock keeps the bytes from going
// back in the middle of a copy, and a read after Close fails.
type sentReader struct {
	mu     sync.Mutex
	b      []byte
	buf    *[]byte   // b's buffer, until the end or Close
	s      *SentBody // whose reference this holds, until the end or Close
	closed bool
}

var errSentBodyClosed = errors.New("dialect: read of a closed upstream request body")

func (r *sentReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	if len(r.b) > 0 {
		n := copy(p, r.b)
		r.b = r.b[n:]
		r.mu.Unlock()
		return n, nil
	}
	s, buf, closed := r.s, r.buf, r.closed
	r.let()
	r.mu.Unlock()
	if s != nil {
		s.unref(buf)
	}
	if closed {
		return 0, errSentBodyClosed
	}
	return 0, io.EOF
}

func (r *sentReader) Close() error {
	r.mu.Lock()
	s, buf := r.s, r.buf
	r.let()
	r.closed = true
	r.mu.Unlock()
	if s != nil {
		s.unref(buf)
	}
	return nil
}

// let drops the reader's hold on the bytes, under r.mu.
func (r *sentReader) let() { r.s, r.buf, r.b = nil, nil, nil }
