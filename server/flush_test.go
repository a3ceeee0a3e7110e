package server_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

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
