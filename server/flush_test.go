package server_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/sse"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// An SSE stream over a real connection flushes each event past the
// server's recorder (to the connection's own writer, which the recorder
// names), its writes still through the recorder: each event reaches the
// client at its flush (the handler sends the next only once the client
// has it), and the access log counts every byte the client got, with
// the stream's status.
func TestStreamFlushesCountedBytes(t *testing.T) {
	const events = 3
	got := make(chan int)
	ts, logs := newServer(t, server.Options{Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
			ft, ok := w.(interface {
				FlushTarget() interface{ FlushError() error }
			})
			if !ok || ft.FlushTarget() != any(w) {
				t.Error("before its status the recorder is not its own flush target")
			}
			sw := sse.NewWriter(w, sse.Options{DeferFlush: true, KeepAlive: -1})
			if ft.FlushTarget() == any(w) {
				t.Error("with its status the recorder is still its own flush target")
			}
			defer sw.Close()
			for i := range events {
				sw.SendString("tick", fmt.Sprintf(`{"n":%d}`, i))
				if err := sw.Flush(); err != nil {
					t.Errorf("flush %d: %v", i, err)
					return
				}
				select {
				case <-got:
				case <-r.Context().Done():
					t.Errorf("event %d: the client left", i)
					return
				}
			}
		})
	})})
	resp, err := http.Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := &countingReader{r: resp.Body}
	rd := sse.NewReader(body)
	for i := range events {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); ev.Data != want {
			t.Fatalf("event %d: %q, want %q", i, ev.Data, want)
		}
		got <- i
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("after the events: %v", err)
	}
	// The handler logged its line before the body's end reached the client.
	m := regexp.MustCompile(`path=/events status=(\d+) bytes=(\d+) `).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no access log line:\n%s", logs)
	}
	if m[1] != "200" || m[2] != strconv.Itoa(body.n) {
		t.Errorf("logged status %s, %s bytes; the client got 200, %d", m[1], m[2], body.n)
	}
}

// flushOnlyWriter is another middleware's writer: a Flush, no FlushError.
type flushOnlyWriter struct {
	http.ResponseWriter
	flushes int
}

func (f *flushOnlyWriter) Flush() {
	f.flushes++
	f.ResponseWriter.(http.Flusher).Flush()
}

// Under a writer with a Flush alone, the recorder's flush target, once
// its status is set, is that Flush, not the recorder: each event's flush
// reaches it, and the access log still counts the stream's bytes.
func TestFlushOnlyWriterIsFlushTarget(t *testing.T) {
	var inner *flushOnlyWriter
	h := server.New(server.Options{Logger: slog.New(slog.DiscardHandler), Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
			sw := sse.NewWriter(w, sse.Options{DeferFlush: true, KeepAlive: -1})
			ft := w.(interface {
				FlushTarget() interface{ FlushError() error }
			})
			if ft.FlushTarget() == any(w) {
				t.Error("under a Flush-only writer the recorder is its own flush target")
			}
			for i := range 3 {
				sw.SendString("tick", strconv.Itoa(i))
				if err := sw.Flush(); err != nil {
					t.Fatal(err)
				}
				if inner.flushes != i+1 {
					t.Fatalf("event %d: %d flushes reached the writer, want %d", i, inner.flushes, i+1)
				}
			}
			sw.Close()
		})
	})})
	rec := httptest.NewRecorder()
	inner = &flushOnlyWriter{ResponseWriter: rec}
	h.ServeHTTP(inner, httptest.NewRequest("GET", "/events", nil))
	if got := strings.Count(rec.Body.String(), "event: tick\n"); got != 3 {
		t.Fatalf("%d events, want 3: %q", got, rec.Body.String())
	}
}

// An SSE stream's writes, its keep-alives' too, go past the recorder to
// the connection's own writer (the recorder's write target once its
// status is set), and the access log still counts every byte the client
// got: the stream's, added at the Writer's Close, and the handler's own
// write through the recorder after it.
func TestStreamWritesPastRecorderCounted(t *testing.T) {
	const events = 3
	seen := make(chan struct{})
	ts, logs := newServer(t, server.Options{Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
			wt, ok := w.(interface {
				WriteTarget() (http.ResponseWriter, *int64)
			})
			if !ok {
				t.Error("the recorder names no write target")
				return
			}
			if to, n := wt.WriteTarget(); to != w || n != nil {
				t.Error("before its status the recorder is not its own write target")
			}
			sw := sse.NewWriter(w, sse.Options{KeepAlive: time.Millisecond})
			if to, n := wt.WriteTarget(); to == w || n == nil {
				t.Error("with its status the recorder is still its own write target")
			}
			for i := range events {
				sw.SendString("tick", strconv.Itoa(i))
				select {
				case <-seen: // the event, and a keep-alive after it
				case <-r.Context().Done():
					t.Errorf("event %d: the client left", i)
					sw.Close()
					return
				}
			}
			sw.Close()
			io.WriteString(w, ": after the stream\n\n")
		})
	})})
	resp, err := http.Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewReader(resp.Body)
	n := 0
	line := func() string {
		l, err := body.ReadString('\n')
		n += len(l)
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		return l
	}
	for i := range events {
		for line() != "data: "+strconv.Itoa(i)+"\n" {
		}
		for line() != ": keep-alive\n" {
		}
		seen <- struct{}{}
	}
	rest, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	n += len(rest)
	if !strings.HasSuffix(string(rest), ": after the stream\n\n") {
		t.Fatalf("the body ends %q", rest)
	}
	m := regexp.MustCompile(`path=/events status=(\d+) bytes=(\d+) `).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no access log line:\n%s", logs)
	}
	if m[1] != "200" || m[2] != strconv.Itoa(n) {
		t.Errorf("logged status %s, %s bytes; the client got 200, %d", m[1], m[2], n)
	}
}
