package dialecttest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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
