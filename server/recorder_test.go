package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
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
