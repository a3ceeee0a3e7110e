package dialect

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// NewUpstreamPost returns a POST of body to url for a streamed upstream
// call. net/http keeps a request, its body and the copy it keeps for a
// retry (GetBody) until the response body is closed, i.e. for the whole
// stream, and a prompt is often many kilobytes. A body longer than short
// is therefore one that lets go of its bytes once written, and the copy
// for a retry is let go by Release, which the caller calls once Do has
// returned (nil for a short body; Release on nil does nothing). Short
// bodies stay a bytes.Reader, which net/http writes with the headers in
// one write; a long one is written after them, in as many writes as
// before (short is the connection's write buffer: such a body never fit
// in the same write anyway).
func NewUpstreamPost(ctx context.Context, url string, body []byte, short int) (*http.Request, *SentBody, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, nil, err
	}
	return r, setBody(r, body, short), nil
}

// setBody gives r body, as NewUpstreamPost describes.
func setBody(r *http.Request, body []byte, short int) *SentBody {
	r.ContentLength = int64(len(body))
	if len(body) <= short {
		if len(body) == 0 {
			r.Body, r.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
			return nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		return nil
	}
	s := &SentBody{b: body}
	r.Body, r.GetBody = &sentReader{b: body}, s.again
	return s
}

// SentBody holds a long upstream body for a retry while its request is
// being sent.
type SentBody struct{ b []byte }

// again is the request's GetBody: only net/http's client and transport
// call it, within Do.
func (s *SentBody) again() (io.ReadCloser, error) { return &sentReader{b: s.b}, nil }

// Release lets go of the body's bytes: call it once Do has returned, after
// which net/http retries nothing.
func (s *SentBody) Release() {
	if s != nil {
		s.b = nil
	}
}

// sentReader reads b once and lets go of it at the end. Close does not
// touch it: the transport may close a body while another goroutine still
// reads it.
type sentReader struct{ b []byte }

func (r *sentReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		r.b = nil
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *sentReader) Close() error { return nil }
