package sse

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// heldWriter is a DeferFlush Writer whose headers and first token went,
// holding a second token's event: SendText's lock kept.
func heldWriter(t *testing.T, k *Keeper, fc *flushCounter) (*Writer, *TextEvent) {
	t.Helper()
	var w *Writer
	if k != nil {
		w = k.NewWriter(fc, Options{DeferFlush: true})
	} else {
		w = NewWriter(fc, Options{DeferFlush: true})
	}
	e := NewTextEvent("delta", []byte(`{"t":`), "}")
	must(t, w.SendText(e, "a"))
	must(t, w.Flush())
	must(t, w.SendText(e, "b"))
	return w, e
}

// TestSendTextKeepsLockForFlush: on a DeferFlush Writer a token's send
// and the flush after it are one lock and unlock; whatever the owner
// calls after the send takes the kept lock and lets it go.
func TestSendTextKeepsLockForFlush(t *testing.T) {
	calls := map[string]func(w *Writer, e *TextEvent) error{
		"Flush":      func(w *Writer, e *TextEvent) error { return w.Flush() },
		"SendText":   func(w *Writer, e *TextEvent) error { return w.SendText(e, "c") }, // kept again: then Flush
		"SendString": func(w *Writer, e *TextEvent) error { return w.SendString("done", "{}") },
		"Send other": func(w *Writer, e *TextEvent) error { return w.SendText(NewTextEvent("other", nil, "\n\n"), "c") },
		"Comment":    func(w *Writer, e *TextEvent) error { return w.Comment("x") },
		"LastID":     func(w *Writer, e *TextEvent) error { w.LastID(); return nil },
		"SetNames":   func(w *Writer, e *TextEvent) error { w.SetNames(nil); return nil },
		"Close":      func(w *Writer, e *TextEvent) error { return w.Close() },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			fc := &flushCounter{header: make(map[string][]string)}
			w, e := heldWriter(t, nil, fc)
			if w.mu.TryLock() {
				t.Fatal("SendText let its lock go before the Flush")
			}
			must(t, call(w, e))
			if name == "SendText" {
				must(t, w.Flush())
			}
			if !w.mu.TryLock() {
				t.Fatalf("%s after SendText kept the lock", name)
			}
			w.mu.Unlock()
			must(t, w.Close())
			_, _, body := fc.counts()
			if !strings.Contains(body, `data: {"t":"b"}`) {
				t.Fatalf("the held token never went: %q", body)
			}
		})
	}
}

// TestKeeperPassesHeldWriter: a Keeper's walk does not wait for a Writer
// between its send and its flush; the keep-alive follows once the flush
// lets the lock go, and others' go meanwhile.
func TestKeeperPassesHeldWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := new(Keeper)
		fc := &flushCounter{header: make(map[string][]string)}
		w, _ := heldWriter(t, k, fc)
		rb := &lockedRecorder{}
		b := k.NewWriter(rb, Options{})
		time.Sleep(DefaultKeepAlive)
		synctest.Wait()
		if n := strings.Count(rb.String(), ": keep-alive\n\n"); n != 1 {
			t.Fatalf("b sent %d keep-alives beside a held writer, want 1", n)
		}
		must(t, w.Flush())
		time.Sleep(DefaultKeepAlive)
		synctest.Wait()
		_, _, body := fc.counts()
		if n := strings.Count(body, ": keep-alive\n\n"); n != 1 {
			t.Fatalf("the held writer sent %d keep-alives after its flush, want 1", n)
		}
		must(t, w.Close())
		must(t, b.Close())
	})
}

// TestHeldAgainstKeepAlives races a DeferFlush Writer's sends and flushes
// on one goroutine, with a Clock that goroutine sets before each as the
// gateway's meter does, against very short keep-alives, of its own timer
// and of a Keeper's; run with -race (the keep-alives never read the
// Clock). Every event arrives whole, in order.
func TestHeldAgainstKeepAlives(t *testing.T) {
	for _, k := range []*Keeper{nil, new(Keeper)} {
		fc := &lockedRecorder{}
		var w *Writer
		o := Options{KeepAlive: time.Microsecond, DeferFlush: true}
		if k != nil {
			w = k.NewWriter(fc, o)
		} else {
			w = NewWriter(fc, o)
		}
		var clk time.Duration
		w.SetClock(&clk, time.Now())
		e := NewTextEvent("", nil, "\n\n")
		for i := range 600 {
			clk = time.Duration(i) * time.Microsecond
			must(t, w.SendText(e, fmt.Sprint(i)))
			if i%3 != 0 {
				must(t, w.Flush())
			}
		}
		must(t, w.Close())
		evs := readAll(t, fc.String())
		for n, ev := range evs {
			if ev.ID != fmt.Sprint(n+1) || ev.Data != fmt.Sprintf("%q", fmt.Sprint(n)) {
				t.Fatalf("event %d: id %s data %s", n, ev.ID, ev.Data)
			}
		}
		if len(evs) != 600 {
			t.Fatalf("read %d events, want 600", len(evs))
		}
	}
}
