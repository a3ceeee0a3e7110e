package dialecttest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// HeldEnd is an upstream that serves each request with its handler, then
// holds the end of the answer (a chunked body's terminator) until Release:
// a stream then ends before its body does, as when the end arrives in a
// later packet. It counts the connections it accepted, for tests of
// connection reuse.
type HeldEnd struct {
	*httptest.Server
	release chan struct{}
	conns   atomic.Int32
}

// NewHeldEnd starts a HeldEnd serving h.
func NewHeldEnd(h http.Handler) *HeldEnd {
	s := &HeldEnd{release: make(chan struct{}, 1)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		http.NewResponseController(w).Flush()
		select {
		case <-s.release:
		case <-r.Context().Done():
		}
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	return s
}

// Release lets the answer being held end.
func (s *HeldEnd) Release() { s.release <- struct{}{} }

// Conns is how many connections the server accepted.
func (s *HeldEnd) Conns() int { return int(s.conns.Load()) }

// ReusesConnections checks that a completed stream leaves its connection
// in the pool even when the end of its chunked body comes only after the
// last event was read, after Close and the call's cancellation: Close
// hands it to a drain (dialect.Drain), whose request the cancellation no
// longer reaches. p streams req from s, an answer of events events; five
// streams in turn share one connection.
func (s *HeldEnd) ReusesConnections(t *testing.T, p stream.Provider, req *stream.Request, events int) {
	t.Helper()
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := p.Stream(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if evs, err := ReadAll(st); err != nil || len(evs) != events {
			t.Fatalf("%d events, %v", len(evs), err)
		}
		st.Close()
		cancel() // as the gateway does once the stream ended
		s.Release()
		dialect.WaitDrains()
	}
	if n := s.Conns(); n != 1 {
		t.Errorf("%d connections for 5 sequential streams, want 1", n)
	}
}
