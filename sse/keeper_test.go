package sse

import (
	"errors"
	"net/http"
	"runtime/metrics"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// A Keeper's Writers each get their keep-alives after their own silence
// and interval, and none once closed, while the others go on; their
// header graces end each HeaderGrace after its own Flush, in order, and
// a grace whose headers left with an event sends nothing.
func TestKeeperWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := new(Keeper)
		ra, rb := &lockedRecorder{}, &lockedRecorder{}
		a := k.NewWriter(ra, Options{})
		time.Sleep(5 * time.Second)
		b := k.NewWriter(rb, Options{KeepAlive: 10 * time.Second})
		check := func(what string, wantA, wantB int) {
			t.Helper()
			synctest.Wait()
			gotA, gotB := strings.Count(ra.String(), ": keep-alive\n\n"), strings.Count(rb.String(), ": keep-alive\n\n")
			if gotA != wantA || gotB != wantB {
				t.Fatalf("%s: %d and %d keep-alives, want %d and %d", what, gotA, gotB, wantA, wantB)
			}
		}
		time.Sleep(10*time.Second - time.Nanosecond)
		check("just before 15 s", 0, 0)
		time.Sleep(time.Nanosecond)
		check("at 15 s", 1, 1)
		time.Sleep(5 * time.Second)
		must(t, a.SendString("", "x")) // at 20 s: a's next at 35 s
		time.Sleep(5 * time.Second)
		check("at 25 s", 1, 2)
		time.Sleep(time.Second)
		must(t, b.Close())
		time.Sleep(9*time.Second - time.Nanosecond)
		check("just before 35 s", 1, 2)
		time.Sleep(time.Nanosecond)
		check("at 35 s", 2, 2)
		time.Sleep(15 * time.Second)
		check("at 50 s", 3, 2)
		must(t, a.Close())

		fc, fd, fe := &flushCounter{header: http.Header{}}, &flushCounter{header: http.Header{}}, &flushCounter{header: http.Header{}}
		c := k.NewWriter(fc, Options{OmitIDs: true, DeferFlush: true, KeepAlive: -1})
		d := k.NewWriter(fd, Options{OmitIDs: true, DeferFlush: true})
		e := k.NewWriter(fe, Options{OmitIDs: true, DeferFlush: true})
		must(t, c.Flush())
		must(t, e.Flush())
		time.Sleep(HeaderGrace / 2)
		must(t, d.Flush())
		must(t, e.SendString("", "e"))
		must(t, e.Flush())
		flushes := func(what string, want ...int) {
			t.Helper()
			synctest.Wait()
			for i, f := range []*flushCounter{fc, fd, fe} {
				if _, n, _ := f.counts(); n != want[i] {
					t.Fatalf("%s: writer %d flushed %d times, want %d", what, i, n, want[i])
				}
			}
		}
		flushes("with e's event", 0, 0, 1)
		time.Sleep(HeaderGrace/2 - time.Nanosecond)
		flushes("just before c's grace ends", 0, 0, 1)
		time.Sleep(time.Nanosecond)
		flushes("as c's grace ends", 1, 0, 1)
		time.Sleep(HeaderGrace / 2)
		flushes("as d's grace ends", 1, 1, 1)
		time.Sleep(time.Minute)
		for _, w := range []*Writer{c, d, e} {
			must(t, w.Close())
		}
	})
}

// A header grace whose headers left with the stream's first event ends
// no timer: the graces' timer is stopped with the last of them, where a
// timer firing for nothing started a goroutine (time.AfterFunc's) for
// each such call, about one a call on a server that is not busy
// (docs/benchmarks.md, issue 13, percall5 session). A grace that does
// end still sends its headers once (TestKeeperWriters).
func TestKeeperGraceEndsNoTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := new(Keeper)
		const calls = 20
		created := goroutinesCreated()
		for range calls {
			fc := &flushCounter{header: http.Header{}}
			w := k.NewWriter(fc, Options{OmitIDs: true, DeferFlush: true, KeepAlive: -1})
			must(t, w.Flush()) // nothing to send: the grace begins
			must(t, w.SendString("", "x"))
			must(t, w.Flush()) // the headers go with the event
			must(t, w.Close())
			time.Sleep(2 * HeaderGrace)
			synctest.Wait()
			if _, n, _ := fc.counts(); n != 1 {
				t.Fatalf("%d flushes, want 1", n)
			}
		}
		if n := goroutinesCreated() - created; n >= calls/2 {
			t.Fatalf("%d goroutines started for %d graces that ended with an event", n, calls)
		}
	})
}

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	m := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// A Keeper's Writer whose keep-alive failed leaves the list, so that one
// its handler never closes does not stay in it for good.
func TestKeeperDropsFailedWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := new(Keeper)
		fc := &flushCounter{header: http.Header{}, fail: errors.New("gone")}
		w := k.NewWriter(fc, Options{OmitIDs: true, DeferFlush: true})
		time.Sleep(DefaultKeepAlive)
		synctest.Wait()
		k.mu.Lock()
		in := w.kl.in || k.alive.head != nil
		k.mu.Unlock()
		if in {
			t.Fatal("a Writer whose keep-alive failed is still in the Keeper's list")
		}
		w.Close()
	})
}

// stuckRecorder is a client that stopped reading: a write blocks until
// release is closed.
type stuckRecorder struct {
	h       http.Header
	release chan struct{}
}

func (s *stuckRecorder) Header() http.Header { return s.h }
func (s *stuckRecorder) WriteHeader(int)     {}
func (s *stuckRecorder) Write(p []byte) (int, error) {
	<-s.release
	return len(p), nil
}
func (s *stuckRecorder) Flush() {}

// A client that stopped reading must hold up its own stream alone: the
// Keeper's timer neither waits for a Writer blocked in a write with its
// lock held (stuck, mid-token) nor writes a keep-alive itself to a silent
// stream whose client stopped reading (quiet), or every other stream on
// the Keeper would lose its keep-alives and header graces for as long as
// that client holds on (a Writer's own timer only ever held up its own).
// On a Keeper that waits or writes on its timer, this test hangs.
func TestKeeperNotHeldByStuckClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := new(Keeper)
		release := make(chan struct{})
		stuck := k.NewWriter(&stuckRecorder{h: http.Header{}, release: release}, Options{})
		quiet := k.NewWriter(&stuckRecorder{h: http.Header{}, release: release}, Options{})
		rb := &lockedRecorder{}
		b := k.NewWriter(rb, Options{})
		sent := make(chan error, 1)
		go func() { sent <- stuck.SendString("", "x") }()
		synctest.Wait() // blocked in Write, its lock held

		fc := &flushCounter{header: http.Header{}}
		for i := range 2 {
			time.Sleep(DefaultKeepAlive)
			synctest.Wait()
			if n := strings.Count(rb.String(), ": keep-alive\n\n"); n != i+1 {
				t.Fatalf("b sent %d keep-alives in %v of silence beside stuck clients, want %d", n, time.Duration(i+1)*DefaultKeepAlive, i+1)
			}
		}
		c := k.NewWriter(fc, Options{OmitIDs: true, DeferFlush: true})
		must(t, c.Flush())
		time.Sleep(HeaderGrace)
		synctest.Wait()
		if _, n, _ := fc.counts(); n != 1 {
			t.Fatalf("c's headers flushed %d times at the end of its grace, want 1", n)
		}
		close(release)
		must(t, <-sent)
		for _, w := range []*Writer{stuck, quiet, b, c} {
			must(t, w.Close())
		}
	})
}
