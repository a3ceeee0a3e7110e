package dialecttest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/runnel/runnel/stream"
)

// Calls runs b's loop of streamed calls of req through p, each read to
// its end and closed, checking that each gives events events: a
// provider's own work per call, over an upstream such as Canned.
func Calls(b *testing.B, p stream.Provider, req *stream.Request, events int) {
	b.ReportAllocs()
	for b.Loop() {
		s, err := p.Stream(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if evs, err := ReadAll(s); err != nil || len(evs) != events {
			b.Fatal(evs, err)
		}
	}
}

// CancelsUpstream checks that Close, or the call's context cancelled (a
// client gone), ends a streamed upstream request while it is still
// generating: the upstream at the URL open is given writes first (an
// answer's first chunk, of the text "a") and waits for its request's
// end; the stream's Recv after it reports the cancellation.
func CancelsUpstream(t *testing.T, first string, open func(ctx context.Context, url string) (stream.Stream, error)) {
	for _, by := range []string{"close", "context"} {
		t.Run(by, func(t *testing.T) {
			gone := make(chan struct{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, first)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				close(gone)
			}))
			defer ts.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := open(ctx, ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if ev, err := s.Recv(); err != nil || ev.Text != "a" {
				t.Fatalf("%v %v", ev, err)
			}
			recvErr := make(chan error)
			go func() { _, err := s.Recv(); recvErr <- err }() // waiting for the upstream
			if by == "close" {
				s.Close()
			} else {
				cancel()
			}
			if err := <-recvErr; !errors.Is(err, context.Canceled) {
				t.Errorf("Recv after the %s: %v", by, err)
			}
			<-gone
		})
	}
}
