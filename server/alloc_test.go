package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/server"
)

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(int)             {}
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// The middleware costs a request three allocations: its recorder (which
// holds the request's id, its context value and the X-Request-Id
// header's value), the request's copy with that context, and the body
// limit's reader. It was nine: the id, the header key canonicalized
// again, the header's value, the context value and its boxed id each had
// their own.
func TestMiddlewareAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var id string
	h := server.New(server.Options{
		Logger: slog.New(slog.DiscardHandler),
		Dialects: []server.Dialect{server.DialectFunc(func(mux *http.ServeMux) {
			mux.HandleFunc("POST /x", func(w http.ResponseWriter, r *http.Request) { id = server.RequestID(r.Context()) })
		})},
	})
	r := httptest.NewRequest("POST", "/x", strings.NewReader("{}"))
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // the mux's first match
	n := testing.AllocsPerRun(100, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
	})
	if got := w.h.Get("X-Request-ID"); len(id) != 24 || got != id {
		t.Fatalf("request id %q, header %q", id, got)
	}
	if n > 3 {
		t.Errorf("%.0f allocations a request, want at most 3", n)
	}
}
