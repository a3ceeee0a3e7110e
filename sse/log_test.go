package sse

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
)

type frameLog struct {
	ids    []uint64
	frames [][]byte
	err    error
}

func (l *frameLog) Append(id uint64, frame []byte) error {
	if l.err != nil {
		return l.err
	}
	l.ids = append(l.ids, id)
	l.frames = append(l.frames, append([]byte(nil), frame...))
	return nil
}

// TestLogWriterReplay writes events into a log, replays the log with
// WriteFrame and reads back the events with their prefixed ids.
func TestLogWriterReplay(t *testing.T) {
	l := &frameLog{}
	w := NewLogWriter(l, Options{IDPrefix: "rs_ab-", OmitIDs: true})
	must(t, w.SendString("", "one"))
	must(t, w.Comment("dropped: comments have no id to resume from"))
	must(t, w.SendString("delta", "two\nlines"))
	if fmt.Sprint(l.ids) != "[1 2]" {
		t.Fatalf("ids %v", l.ids)
	}
	if got := string(l.frames[0]); got != "id: rs_ab-1\ndata: one\n\n" {
		t.Fatalf("frame %q", got)
	}
	rec := httptest.NewRecorder()
	out := NewWriter(rec, Options{KeepAlive: -1})
	for _, f := range l.frames[1:] {
		must(t, out.WriteFrame(f))
	}
	out.Close()
	got := readAll(t, rec.Body.String())
	want := []Event{{ID: "rs_ab-2", Event: "delta", Data: "two\nlines"}}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := out.WriteFrame(l.frames[0]); err != ErrClosed {
		t.Fatalf("WriteFrame after Close: %v", err)
	}
}

func TestLogWriterError(t *testing.T) {
	boom := errors.New("boom")
	w := NewLogWriter(&frameLog{err: boom}, Options{})
	if err := w.SendString("", "x"); err != boom {
		t.Fatalf("Send: %v", err)
	}
	if err := w.SendString("", "y"); err != boom {
		t.Fatalf("second Send: %v, want the first error again", err)
	}
}

func BenchmarkLogWriter(b *testing.B) {
	chunk := []byte(`{"token":" word","done":false,"provider":"mock"}`)
	w := NewLogWriter(discardLog{}, Options{IDPrefix: "rs_0123456789abcdef0123456789abcdef-"})
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Send("", chunk); err != nil {
			b.Fatal(err)
		}
	}
}

type discardLog struct{}

func (discardLog) Append(uint64, []byte) error { return nil }
