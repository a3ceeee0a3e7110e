package dialect

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync/atomic"
)

// NewUpstreamPost returns a POST of *body to url for a streamed upstream
// call, and takes *body over. net/http keeps a request, its body and the
// copy it keeps for a retry (GetBody) until the response body is closed,
// i.e. for the whole stream, and a prompt is often many kilobytes. A body
// longer than short is therefore one that lets go of its bytes once
// written, and the copy for a retry is let go by Release, which the
// caller calls once Do has returned (nil for a short body; Release on nil
// does nothing); the buffer then goes back to the pool (PutBuffer) for
// the next call's body, unless a retry read it again. A short body is
// copied to a bytes.Reader of its own length (*body goes back at once),
// which net/http writes with the headers in one write; a long one is
// written after them, in as many writes as before (short is the
// connection's write buffer: such a body never fit in the same write
// anyway).
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
	r.Body, r.GetBody = &sentReader{b: b, s: s}, s.again
	return s
}

// SentBody holds a long upstream body for a retry while its request is
// being sent.
type SentBody struct {
	buf   *[]byte // given back once read to its end and released
	b     []byte
	state atomic.Uint32 // sentRead | sentReleased | sentRetried
}

const (
	sentRead     = 1 << iota // the first reader reached its end
	sentReleased             // Do returned
	sentRetried              // GetBody was called: its reader may still read
)

// again is the request's GetBody: only net/http's client and transport
// call it, within Do.
func (s *SentBody) again() (io.ReadCloser, error) {
	s.state.Or(sentRetried)
	return &sentReader{b: s.b}, nil
}

// Release lets go of the body's bytes: call it once Do has returned, after
// which net/http retries nothing.
func (s *SentBody) Release() {
	if s != nil {
		s.b = nil
		s.done(sentReleased)
	}
}

// done notes what happened; the second of the first reader's end and
// Release gives the buffer back, as nothing can read it any more: the
// transport reads a body no further than its end, even when Do has
// returned before (an upstream that answered early), and only a retry
// reads it again.
func (s *SentBody) done(bit uint32) {
	old := s.state.Or(bit)
	switch {
	case bit == sentReleased && old&sentRetried != 0:
		// A retry's reader may still read the bytes (the first's end
		// then gives nothing back): the pool does not get them.
		s.buf = nil // the request keeps s (its GetBody) for the whole stream
	case old&bit == 0 && old|bit == sentRead|sentReleased: // the second of the two, not retried
		PutBuffer(s.buf)
		s.buf = nil
	}
}

// sentReader reads b once and lets go of it at the end. Close does not
// touch it: the transport may close a body while another goroutine still
// reads it.
type sentReader struct {
	b []byte
	s *SentBody // for the first reader, until its end
}

func (r *sentReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		r.b = nil
		if s := r.s; s != nil {
			r.s = nil
			s.done(sentRead)
		}
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *sentReader) Close() error { return nil }
