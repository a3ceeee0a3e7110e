package sse

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// countingPasser is a writer like the server's recorder: it counts what
// its Write passes on, and once its status is set names the writer it
// passes writes and flushes to, with its count.
type countingPasser struct {
	http.ResponseWriter
	status int
	n      int64
	writes int // calls of Write
}

func (p *countingPasser) WriteHeader(code int) {
	p.status = code
	p.ResponseWriter.WriteHeader(code)
}

func (p *countingPasser) Write(b []byte) (int, error) {
	p.writes++
	n, err := p.ResponseWriter.Write(b)
	p.n += int64(n)
	return n, err
}

func (p *countingPasser) FlushTarget() interface{ FlushError() error } {
	return recFlush{p.ResponseWriter.(*httptest.ResponseRecorder)}
}

// recFlush is a ResponseRecorder's Flush as a FlushError.
type recFlush struct{ *httptest.ResponseRecorder }

func (r recFlush) FlushError() error {
	r.Flush()
	return nil
}

func (p *countingPasser) WriteTarget() (http.ResponseWriter, *int64) {
	if p.status == 0 {
		return p, nil
	}
	return p.ResponseWriter, &p.n
}

// A Writer over a writer that names its write target writes every event
// there, not through the passer, and adds the bytes to the passer's
// count when it closes: the count is the body's length, exactly, the
// events written before and after the passer's own writes alike.
func TestWriterWritesPastPasser(t *testing.T) {
	for _, o := range []Options{{}, {DeferFlush: true}, {Retry: 3 * time.Second}} {
		rec := httptest.NewRecorder()
		p := &countingPasser{ResponseWriter: rec}
		w := NewWriter(p, Options{DeferFlush: o.DeferFlush, Retry: o.Retry, KeepAlive: -1})
		for i := range 3 {
			w.SendString("tick", strings.Repeat("x", i+1))
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		w.SendString("", "unflushed") // Close flushes it
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if p.writes != 0 {
			t.Errorf("%+v: %d writes went through the passer, want none", o, p.writes)
		}
		if got, want := p.n, int64(rec.Body.Len()); got != want {
			t.Errorf("%+v: the passer counts %d bytes; the body has %d", o, got, want)
		}
		events := 4 // and a retry: field's block
		if o.Retry > 0 {
			events++
		}
		if got := strings.Count(rec.Body.String(), "\n\n"); got != events {
			t.Errorf("%+v: %d events in %q", o, got, rec.Body.String())
		}
		// After Close the passer's own writes add to the same count.
		p.Write([]byte(": end\n\n"))
		if got, want := p.n, int64(rec.Body.Len()); got != want {
			t.Errorf("%+v: after a write of its own the passer counts %d bytes; the body has %d", o, got, want)
		}
	}
}
