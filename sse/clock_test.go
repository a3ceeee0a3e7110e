package sse

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// stampClock is a source's latest event time, which the test sets.
type stampClock struct{ t time.Duration }

// With a Clock, a write after a newer event counts the silence from that
// event's reading, not from a reading of its own; a write after no newer
// event (or the keep-alive's own) reads the clock. The keep-alives keep
// their interval from there.
func TestWriterClock(t *testing.T) {
	timers(t, func(t *testing.T, newWriter func(http.ResponseWriter, Options) *Writer) {
		fc := &lockedRecorder{}
		clk := &stampClock{}
		start := time.Now()
		w := newWriter(fc, Options{DeferFlush: true, OmitIDs: true})
		w.SetClock(&clk.t, start)
		keepAlives := func() int {
			t.Helper()
			synctest.Wait()
			n := 0
			for s := fc.String(); len(s) > 0; {
				i := len(": keep-alive\n\n")
				if len(s) >= i && s[:i] == ": keep-alive\n\n" {
					n++
					s = s[i:]
					continue
				}
				s = s[1:]
			}
			return n
		}
		// next checks that keep-alive number n goes after exactly d more.
		next := func(d time.Duration, n int, what string) {
			t.Helper()
			time.Sleep(d - time.Nanosecond)
			if got := keepAlives(); got != n-1 {
				t.Fatalf("%s: %d keep-alives before, want %d", what, got, n-1)
			}
			time.Sleep(time.Nanosecond)
			if got := keepAlives(); got != n {
				t.Fatalf("%s: %d keep-alives, want %d", what, got, n)
			}
		}
		send := func(data string) {
			must(t, w.SendString("", data))
			must(t, w.Flush())
		}
		// An event that came at 4 s, written at 5 s: the silence counts
		// from 4 s.
		time.Sleep(5 * time.Second)
		clk.t = 4 * time.Second
		send("a")
		next(14*time.Second, 1, "15 s from the event")
		// At 25 s, a last event made of no newer one ([DONE]): the
		// clock's own reading, 25 s.
		time.Sleep(6 * time.Second)
		send("[DONE]")
		next(15*time.Second, 2, "15 s from the unstamped write")
		// A stamp older than the keep-alive that went after it does not
		// take the silence back (at 45 s, an event of 39 s).
		time.Sleep(5 * time.Second)
		clk.t = 39 * time.Second
		send("b")
		next(10*time.Second, 3, "15 s from the keep-alive at 40 s")
		must(t, w.Close())
	})
}
