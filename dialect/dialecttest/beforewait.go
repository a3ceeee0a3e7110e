package dialecttest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/runnel/runnel/stream"
)

// NotifiesBeforeWait checks a provider that claims stream.WaitNotifier: a
// dialect over it writes events unflushed until the stream's BeforeWait
// function runs, so it must run before the read that waits for the
// upstream. The upstream (the provider newProvider makes for its URL)
// sends head, then the rest of its answer only once the function ran
// after the stream's first delta. It returns the events after that delta.
func NotifiesBeforeWait(t *testing.T, head, rest string, newProvider func(url string) stream.Provider, req *stream.Request) []stream.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // deadlock guard only
	defer cancel()
	waited := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, head)
		w.(http.Flusher).Flush()
		select {
		case <-waited:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, rest)
	}))
	defer ts.Close()
	p := newProvider(ts.URL)
	if n, ok := p.(stream.WaitNotifier); !ok || !n.NotifiesBeforeWait() {
		t.Fatal("not a WaitNotifier")
	}
	var first bool // the first delta was received: a read now waits for the rest
	s, err := p.Stream(stream.WithBeforeWait(ctx, func() {
		if first {
			first = false
			close(waited)
		}
	}), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("before the first delta: %v", err)
		}
		if ev.Kind == stream.KindDelta {
			break
		}
	}
	first = true
	got, err := ReadAll(s)
	if err != nil {
		t.Fatalf("after the first delta: %v (%v)", err, got)
	}
	return got
}
