package server

import (
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
)

// routes is a ServeMux with its exact routes remembered: a request whose
// method, host and path once matched a pattern with neither wildcards
// nor a trailing slash, the pattern being that method and path, goes to
// the pattern's handler by a look-up of its path, without the mux's
// path cleaning and tree walk (2k instructions a call, about 5% of a
// streamed call's work before its first token: docs/benchmarks.md,
// issue 13, percall2 session). The mux's answer for such a request is a
// function of its method, host and path (a clean path, unescaped:
// URL.RawPath empty), so the remembered handler is the one the mux
// would pick, and the handler sees the same request (r.Pattern set; an
// exact pattern has no path values). Every other request goes through
// the mux, after learn has looked at its route. At most one entry a pattern
// (the first host seen), so a client's paths or hosts cannot grow it.
type routes struct {
	mux   *http.ServeMux
	exact atomic.Pointer[map[string]exactRoute] // by path
}

// exactRoute is a remembered route: what the request matched on, the
// pattern and its handler.
type exactRoute struct {
	method, host, pattern string
	h                     http.Handler
}

func newRoutes(mux *http.ServeMux) *routes { return &routes{mux: mux} }

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := rt.handler(r); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	rt.learn(r)
	rt.mux.ServeHTTP(w, r)
}

// handler is the handler of r's remembered route, with r.Pattern set as
// the mux sets it, or nil. Out of line: its locals are no part of the
// frame above a stream.
//
//go:noinline
func (rt *routes) handler(r *http.Request) http.Handler {
	m := rt.exact.Load()
	if m == nil || r.URL.RawPath != "" {
		return nil
	}
	e, ok := (*m)[r.URL.Path]
	if !ok || e.method != r.Method || e.host != r.Host {
		return nil
	}
	r.Pattern = e.pattern
	return e.h
}

// learn remembers r's route, before the mux serves r, if it is exact and
// its path has none yet. Its frame is gone when the mux serves r: a
// stream's frames stay under every flush (see Handler.ServeHTTP). A
// request on any other route is matched twice (here and by the mux).
//
//go:noinline
func (rt *routes) learn(r *http.Request) {
	if r.URL.RawPath != "" || r.Method == http.MethodConnect {
		return
	}
	for {
		old := rt.exact.Load()
		if old != nil {
			if _, ok := (*old)[r.URL.Path]; ok {
				return
			}
		}
		// The mux's pattern for r: an exact one is r's method and path
		// (a redirect's is a path; a wildcard's or a subtree's differs).
		h, pattern := rt.mux.Handler(r)
		if pattern != r.Method+" "+r.URL.Path || strings.ContainsAny(pattern, "{") || strings.HasSuffix(pattern, "/") {
			return
		}
		m := make(map[string]exactRoute, 1)
		if old != nil {
			m = maps.Clone(*old)
		}
		m[r.URL.Path] = exactRoute{method: r.Method, host: r.Host, pattern: pattern, h: h}
		if rt.exact.CompareAndSwap(old, &m) {
			return
		}
	}
}
