package dialecttest

import (
	"io"
	"net/http"
	"net/http/httptest"
)

// Pulled is an upstream answering a stream whose events are pulled: it
// writes head, then event n times (forever if n < 0), each after the one
// before went out and was taken off Sent (which receives each event's
// index, and then n again: the stream stays open sending nothing); Gone
// is closed once the request's context ended. For tests of a provider's
// backpressure and Close.
type Pulled struct {
	*httptest.Server
	Sent <-chan int
	Gone <-chan struct{}
}

// NewPulled starts a Pulled upstream; close it with Close.
func NewPulled(head, event string, n int) *Pulled {
	sent, gone := make(chan int), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, head)
		for i := 0; ; i++ {
			if n < 0 || i < n {
				io.WriteString(w, event)
			}
			w.(http.Flusher).Flush()
			select {
			case sent <- i:
			case <-r.Context().Done():
				close(gone)
				return
			}
		}
	}))
	return &Pulled{Server: srv, Sent: sent, Gone: gone}
}
