package sse

import (
	"testing"
	"testing/synctest"
	"time"
)

// stampClock is an Options.Clock whose reading the test sets.
type stampClock struct{ t time.Duration }

func (c *stampClock) EventTime() time.Duration { return c.t }

// With a Clock, a write after a newer event counts the silence from that
// event's reading, not from a reading of its own; a write after no newer
// event (or the keep-alive's own) reads the clock. The keep-alives keep
// their interval from there.
func TestWriterClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := &lockedRecorder{}
		clk := &stampClock{}
		start := time.Now()
		w := NewWriter(fc, Options{Clock: clk, Start: start, DeferFlush: true, OmitIDs: true})
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
		// An event that came at 4 s, written at 5 s: the silence counts
		// from 4 s.
		time.Sleep(5 * time.Second)
		clk.t = 4 * time.Second
		must(t, w.SendString("", "a"))
		must(t, w.Flush())
		time.Sleep(14*time.Second - time.Nanosecond) // 19 s less 1 ns
		if n := keepAlives(); n != 0 {
			t.Fatalf("%d keep-alives before 15 s from the event", n)
		}
		time.Sleep(time.Nanosecond)
		if n := keepAlives(); n != 1 {
			t.Fatalf("%d keep-alives 15 s from the event, want 1", n)
		}
		// At 25 s, a last event made of no newer one ([DONE]): the
		// clock's own reading, 25 s.
		time.Sleep(6 * time.Second)
		must(t, w.SendString("", "[DONE]"))
		must(t, w.Flush())
		time.Sleep(15*time.Second - time.Nanosecond)
		if n := keepAlives(); n != 1 {
			t.Fatalf("%d keep-alives before 15 s from the unstamped write", n)
		}
		time.Sleep(time.Nanosecond)
		if n := keepAlives(); n != 2 {
			t.Fatalf("%d keep-alives 15 s from the unstamped write, want 2", n)
		}
		// A stamp older than the keep-alive that went after it does not
		// take the silence back (at 45 s, an event of 39 s).
		time.Sleep(5 * time.Second)
		clk.t = 39 * time.Second
		must(t, w.SendString("", "b"))
		must(t, w.Flush())
		time.Sleep(10*time.Second - time.Nanosecond) // 15 s from the keep-alive at 40 s
		if n := keepAlives(); n != 2 {
			t.Fatalf("%d keep-alives, want 2", n)
		}
		time.Sleep(time.Nanosecond)
		if n := keepAlives(); n != 3 {
			t.Fatalf("%d keep-alives 15 s from the last keep-alive, want 3", n)
		}
		must(t, w.Close())
	})
}
