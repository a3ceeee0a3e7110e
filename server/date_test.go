package server_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/runnel/runnel/server"
)

// TestDateHeader holds the Date the recorder sets (made once a second,
// not formatted by net/http for every response) to net/http's own: one
// Date, in http.TimeFormat, of the second the response was written; a
// handler's own Date kept; a response written without WriteHeader given
// net/http's.
func TestDateHeader(t *testing.T) {
	const own = "Tue, 01 Jan 2030 00:00:00 GMT"
	ts, _ := newServer(t, server.Options{Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTeapot)
		})
		mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			io.WriteString(w, "data: x\n\n")
		})
		mux.HandleFunc("GET /write", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
		mux.HandleFunc("GET /own", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", own)
			w.WriteHeader(http.StatusOK)
		})
		mux.HandleFunc("GET /early", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusOK)
		})
	})})
	for _, path := range []string{"/status", "/stream", "/write", "/early", "/status", "/healthz", "/nowhere"} {
		t.Run(path, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			resp, err := http.Get(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			after := time.Now()
			dates := resp.Header["Date"]
			if len(dates) != 1 {
				t.Fatalf("Date headers %q, want one", dates)
			}
			d, err := time.Parse(http.TimeFormat, dates[0])
			if err != nil {
				t.Fatalf("Date %q: %v", dates[0], err)
			}
			if d.Before(before) || d.After(after) {
				t.Fatalf("Date %v, not within the request's seconds [%v, %v]", d, before, after)
			}
		})
	}
	resp, err := http.Get(ts.URL + "/own")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header["Date"]; len(got) != 1 || got[0] != own {
		t.Fatalf("handler's own Date came as %q", got)
	}
}
