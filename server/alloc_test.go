package server_test

import (
	"io"
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

// The middleware costs a request one allocation: its recorder, which
// holds the request's id, its context value, the X-Request-Id header's
// value, the request's copy with that context and the body limit's
// reader. It was nine: the id, the header key canonicalized again, the
// header's value, the context value, its boxed id, the request's copy and
// the body's reader each had their own.
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
	if n > 1 {
		t.Errorf("%.0f allocations a request, want at most 1", n)
	}
}

// TestIncomingRequestLeftAsItWas: the routes get a copy of the request
// with the id's context and the limited body (in the recorder); the
// request net/http passed in keeps its own context and body.
func TestIncomingRequestLeftAsItWas(t *testing.T) {
	var got *http.Request
	h := server.New(server.Options{
		Logger: slog.New(slog.DiscardHandler),
		Dialects: []server.Dialect{server.DialectFunc(func(mux *http.ServeMux) {
			mux.HandleFunc("POST /x", func(w http.ResponseWriter, r *http.Request) {
				got = r
				if b, err := io.ReadAll(r.Body); err != nil || string(b) != "{}" {
					t.Errorf("body %q, %v", b, err)
				}
			})
		})},
	})
	r := httptest.NewRequest("POST", "/x", strings.NewReader("{}"))
	ctx, body := r.Context(), r.Body
	h.ServeHTTP(&nopWriter{h: http.Header{}}, r)
	if got == nil || got == r || server.RequestID(got.Context()) == "" || got.Body == body {
		t.Fatalf("the routes got %p (the incoming request %p), not its copy with an id and a limited body", got, r)
	}
	if r.Context() != ctx || r.Body != body || server.RequestID(r.Context()) != "" {
		t.Fatal("the incoming request was changed")
	}
}
