package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unsafe"
)

// flushErrWriter has FlushError, whose result changes from call to call.
type flushErrWriter struct {
	http.ResponseWriter
	n   int
	err error
}

func (w *flushErrWriter) FlushError() error { w.n++; return w.err }

// flushOnlyWriter has Flush alone.
type flushOnlyWriter struct {
	http.ResponseWriter
	n int
}

func (w *flushOnlyWriter) Flush() { w.n++ }

// plainWriter flushes not at all.
type plainWriter struct{ http.ResponseWriter }

// The recorder finds its writer's flush at WriteHeader or the first
// flush and goes through it at every later one, each flush's result the
// writer's own.
func TestRecorderFlushesThroughItsWriter(t *testing.T) {
	gone := errors.New("client gone")
	fe := &flushErrWriter{}
	rec := &recorder{ResponseWriter: fe}
	for i := range 3 {
		if i == 2 {
			fe.err = gone
		}
		if err := rec.FlushError(); err != fe.err {
			t.Fatalf("flush %d: %v, want %v", i, err, fe.err)
		}
	}
	if fe.n != 3 || rec.status != http.StatusOK {
		t.Errorf("FlushError writer: %d flushes, status %d; want 3, 200", fe.n, rec.status)
	}

	// Found at WriteHeader, as an SSE stream's.
	fo := &flushOnlyWriter{ResponseWriter: httptest.NewRecorder()}
	rec = &recorder{ResponseWriter: fo}
	rec.WriteHeader(http.StatusAccepted)
	for range 3 {
		if err := rec.FlushError(); err != nil {
			t.Fatal(err)
		}
		rec.Flush()
	}
	if fo.n != 6 || rec.status != http.StatusAccepted {
		t.Errorf("Flusher: %d flushes, status %d; want 6, 202", fo.n, rec.status)
	}

	rec = &recorder{ResponseWriter: plainWriter{}}
	for range 2 {
		if err := rec.FlushError(); !errors.Is(err, http.ErrNotSupported) {
			t.Fatalf("writer without a flush: %v, want ErrNotSupported", err)
		}
	}
}

// TestRecorderSize: the recorder, the request's copy in it, stays within
// 512 bytes, the largest size malloc serves without a header of its own
// (docs/benchmarks.md, issue 13, callids session).
func TestRecorderSize(t *testing.T) {
	if n := unsafe.Sizeof(recorder{}); n > 512 {
		t.Errorf("recorder: %d bytes", n)
	}
}

// The recorder's Date is its second's, made once a second, and set by
// the recorder itself: a writer that adds none (httptest's) gets it.
func TestRecorderSetsDate(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	a, b := dateAt(t0), dateAt(t0.Add(999*time.Millisecond))
	if len(a) != 1 || a[0] != "Wed, 02 Jan 2030 02:04:05 GMT" || &a[0] != &b[0] {
		t.Fatalf("one second's Dates %q %q, want one shared value", a, b)
	}
	if c := dateAt(t0.Add(time.Second)); c[0] != "Wed, 02 Jan 2030 02:04:06 GMT" {
		t.Fatalf("the next second's Date %q", c)
	}
	if c := dateAt(t0); c[0] != a[0] {
		t.Fatalf("an earlier second's Date %q", c)
	}

	w := httptest.NewRecorder()
	rec := &recorder{ResponseWriter: w}
	before := time.Now().Truncate(time.Second)
	rec.WriteHeader(http.StatusOK)
	d, err := time.Parse(http.TimeFormat, w.Header().Get("Date"))
	if err != nil || d.Before(before) || d.After(time.Now()) {
		t.Fatalf("recorder's Date %q (%v), want this second's", w.Header().Get("Date"), err)
	}
}
