package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The routes answer every request as their mux does, the first time
// (through the mux, which teaches them) and after (exact routes from
// what they remember): same handler, status, redirect, pattern and path
// values. Each request is served three times, between others, so that a
// route remembered from one request is tried on the next.
func TestRoutesAnswerAsTheMux(t *testing.T) {
	register := func(mux *http.ServeMux) {
		for _, p := range []string{
			"POST /v1/chat/completions", "GET /v1/models", "GET /v1/models/{id...}",
			"GET /tree/", "POST /v1/messages", "other.example/v1/messages", "GET /healthz",
		} {
			mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s|%s|%s", p, r.Pattern, r.PathValue("id"))
			})
		}
	}
	plain := http.NewServeMux()
	register(plain)
	learnt := http.NewServeMux()
	register(learnt)
	rt := newRoutes(learnt)

	reqs := []struct{ method, target, host string }{
		{"POST", "/v1/chat/completions", ""},
		{"GET", "/v1/chat/completions", ""}, // 405
		{"HEAD", "/v1/models", ""},          // GET's route
		{"GET", "/v1/models", ""},
		{"GET", "/v1/models/openai/default", ""},
		{"POST", "/v1/chat//completions", ""}, // redirect to the clean path
		{"POST", "/v1/chat/./completions", ""},
		{"POST", "/v1/chat%2Fcompletions", ""}, // escaped: another path
		{"POST", "/v1/chat/completions/", ""},
		{"GET", "/tree", ""}, // redirect to /tree/
		{"GET", "/tree/x", ""},
		{"POST", "/v1/messages", ""},
		{"POST", "/v1/messages", "other.example"}, // the host's pattern
		{"POST", "/v1/messages", "other.example:8080"},
		{"POST", "/nowhere", ""},
		{"GET", "/healthz", ""},
	}
	answer := func(h http.Handler, method, target, host string) string {
		r := httptest.NewRequest(method, target, nil)
		if host != "" {
			r.Host = host
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return fmt.Sprintf("%d %q %q", w.Code, w.Header().Get("Location"), w.Body)
	}
	for round := range 3 {
		for _, q := range reqs {
			want := answer(plain, q.method, q.target, q.host)
			if got := answer(rt, q.method, q.target, q.host); got != want {
				t.Errorf("round %d: %s %s (host %q): %s, the mux %s", round, q.method, q.target, q.host, got, want)
			}
		}
	}
	// What they remember: the exact routes, for the first host each.
	m := rt.exact.Load()
	if m == nil {
		t.Fatal("nothing remembered")
	}
	want := map[string]string{"/v1/chat/completions": "POST", "/v1/models": "GET", "/v1/messages": "POST", "/healthz": "GET"}
	if len(*m) != len(want) {
		t.Errorf("remembered %v, want the routes of %v", *m, want)
	}
	for path, method := range want {
		if e, ok := (*m)[path]; !ok || e.method != method || e.host != "example.com" {
			t.Errorf("%s: remembered %+v, want %s on example.com", path, e, method)
		}
	}
}
