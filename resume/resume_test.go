package resume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTimers replaces time.AfterFunc: tests fire the timers themselves.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

func (ft *fakeTimers) afterFunc(d time.Duration, f func()) timer {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t := &fakeTimer{d: d, f: f}
	ft.timers = append(ft.timers, t)
	return t
}

// last returns the last timer set, which must exist.
func (ft *fakeTimers) last(t *testing.T) *fakeTimer {
	t.Helper()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.timers) == 0 {
		t.Fatal("no timer was set")
	}
	return ft.timers[len(ft.timers)-1]
}

func newTest(o Options) (*Registry, *fakeTimers) {
	r := NewRegistry(o)
	ft := &fakeTimers{}
	r.afterFunc = ft.afterFunc
	return r, ft
}

type cancelFlag struct{ n int }

func (c *cancelFlag) cancel() { c.n++ }

func appendN(t *testing.T, s *Session, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := s.Append(uint64(i), []byte(fmt.Sprintf("f%d|", i))); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// readAll reads c to its end (or err), returning the frames joined.
func readAll(t *testing.T, c *Client) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // deadlock guard
	defer cancel()
	var sb strings.Builder
	for {
		frames, err := c.Next(ctx, nil)
		for _, f := range frames {
			sb.Write(f)
		}
		if err != nil {
			return sb.String(), err
		}
	}
}

func TestSessionReplayAndFollow(t *testing.T) {
	r, ft := newTest(Options{})
	var cf cancelFlag
	s, err := r.Open("team:a:k", "native", cf.cancel)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.ID(), "rs_") || len(s.ID()) != 35 {
		t.Fatalf("id %q", s.ID())
	}
	c, err := s.Attach(0)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 1, 3)
	frames, err := c.Next(context.Background(), nil)
	if err != nil || strings.Join(bytesToStrings(frames), "") != "f1|f2|f3|" {
		t.Fatalf("Next = %q, %v", frames, err)
	}
	c.Close()
	if d := ft.last(t).d; d != DefaultGrace {
		t.Fatalf("grace timer %v", d)
	}
	appendN(t, s, 4, 5) // nobody attached: the log keeps them

	got, _ := r.Get(s.ID(), "team:a:k", "native")
	if got != s {
		t.Fatal("Get did not find the session")
	}
	c2, err := s.Attach(2) // the client had only f1 and f2
	if err != nil {
		t.Fatal(err)
	}
	if !ft.last(t).stopped {
		t.Fatal("attaching did not stop the grace timer")
	}
	appendN(t, s, 6, 6)
	s.Finish()
	text, err := readAll(t, c2)
	if err != io.EOF || text != "f3|f4|f5|f6|" {
		t.Fatalf("resumed %q, %v", text, err)
	}
	if !s.Done(6) || s.Done(5) {
		t.Fatal("Done wrong")
	}
	if cf.n != 1 {
		t.Fatalf("cancel called %d times, want 1 (on Finish)", cf.n)
	}
	// Finished: kept for Retain, then dropped.
	ret := ft.last(t)
	if ret.d != DefaultRetain {
		t.Fatalf("retain timer %v", ret.d)
	}
	c2.Close()
	ret.f()
	if _, err := r.Get(s.ID(), "team:a:k", "native"); err != ErrNotFound {
		t.Fatalf("after retain: %v", err)
	}
}

func bytesToStrings(b [][]byte) []string {
	out := make([]string, len(b))
	for i := range b {
		out[i] = string(b[i])
	}
	return out
}

func TestGetChecksOwnerAndKind(t *testing.T) {
	r, _ := newTest(Options{})
	s, _ := r.Open("team:a:k", "openai.chat", func() {})
	for _, tc := range []struct{ name, id, owner, kind string }{
		{"other owner", s.ID(), "team:b:k", "openai.chat"},
		{"no owner", s.ID(), "", "openai.chat"},
		{"other kind", s.ID(), "team:a:k", "native"},
		{"unknown", "rs_00000000000000000000000000000000", "team:a:k", "openai.chat"},
	} {
		if _, err := r.Get(tc.id, tc.owner, tc.kind); err != ErrNotFound {
			t.Errorf("%s: %v, want ErrNotFound", tc.name, err)
		}
	}
}

func TestGraceExpiryCancels(t *testing.T) {
	r, ft := newTest(Options{Grace: time.Second})
	var cf cancelFlag
	s, _ := r.Open("", "native", cf.cancel)
	c, _ := s.Attach(0)
	appendN(t, s, 1, 2)
	c.Close()
	g := ft.last(t)
	if g.d != time.Second {
		t.Fatalf("grace %v", g.d)
	}
	g.f()
	if cf.n != 1 {
		t.Fatalf("cancel called %d times, want 1", cf.n)
	}
	if err := s.Append(3, []byte("x")); err != ErrExpired {
		t.Fatalf("Append after expiry: %v", err)
	}
	if _, err := r.Get(s.ID(), "", "native"); err != ErrNotFound {
		t.Fatalf("Get after expiry: %v", err)
	}
	if _, err := s.Attach(2); err != ErrNotFound {
		t.Fatalf("Attach after expiry: %v", err)
	}
	s.Finish() // the producer ends: nothing more to cancel or retain
	if r.Len() != 0 {
		t.Fatalf("%d sessions left", r.Len())
	}
}

func TestStaleGraceTimerIsHarmless(t *testing.T) {
	r, ft := newTest(Options{})
	var cf cancelFlag
	s, _ := r.Open("", "native", cf.cancel)
	c, _ := s.Attach(0)
	c.Close()
	g := ft.last(t)
	c2, _ := s.Attach(0)
	g.f() // fired just as the client came back
	if cf.n != 0 {
		t.Fatal("a client is attached, yet the generation was cancelled")
	}
	appendN(t, s, 1, 1)
	s.Finish()
	if text, err := readAll(t, c2); text != "f1|" || err != io.EOF {
		t.Fatalf("%q, %v", text, err)
	}
}

func TestTakeover(t *testing.T) {
	r, _ := newTest(Options{})
	s, _ := r.Open("", "native", func() {})
	c1, _ := s.Attach(0)
	appendN(t, s, 1, 2)
	c2, err := s.Attach(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Next(context.Background(), nil); err != ErrTakenOver {
		t.Fatalf("old client: %v, want ErrTakenOver", err)
	}
	c1.Close() // must not detach the new client
	appendN(t, s, 3, 3)
	s.Finish()
	if text, err := readAll(t, c2); text != "f2|f3|" || err != io.EOF {
		t.Fatalf("%q, %v", text, err)
	}
}

func TestAttachBadPosition(t *testing.T) {
	r, _ := newTest(Options{})
	s, _ := r.Open("", "native", func() {})
	appendN(t, s, 1, 2)
	if _, err := s.Attach(3); err != ErrBadPosition {
		t.Fatalf("Attach(3) of 2 events: %v", err)
	}
	if err := s.Append(5, []byte("x")); err != ErrBadPosition {
		t.Fatalf("out-of-order Append: %v", err)
	}
}

func TestOverflowWithoutClient(t *testing.T) {
	r, _ := newTest(Options{MaxBytes: 10})
	var cf cancelFlag
	s, _ := r.Open("", "native", cf.cancel)
	appendN(t, s, 1, 2) // 6 bytes
	if err := s.Append(3, []byte("f3|f3|")); err != ErrTooLarge {
		t.Fatalf("Append past MaxBytes: %v", err)
	}
	if _, err := r.Get(s.ID(), "", "native"); err != nil {
		t.Fatalf("an overflowed session is kept, to tell why it cannot resume: %v", err)
	}
	if _, err := s.Attach(0); err != ErrTooLarge {
		t.Fatalf("Attach: %v", err)
	}
	s.Finish()
	if cf.n != 1 {
		t.Fatal("not cancelled")
	}
}

func TestOverflowServesAttachedClient(t *testing.T) {
	r, _ := newTest(Options{MaxBytes: 10, Ahead: 1000})
	s, _ := r.Open("", "native", func() {})
	c, _ := s.Attach(0)
	var want strings.Builder
	for i := 1; i <= 20; i++ {
		appendN(t, s, i, i)
		fmt.Fprintf(&want, "f%d|", i)
		if i%3 == 0 {
			text, _ := c.Next(context.Background(), nil)
			_ = text
		}
	}
	// The client goes on getting every frame, while the log only holds
	// what it has not taken.
	s.mu.Lock()
	held := s.bytes
	s.mu.Unlock()
	if held > 10+4*3 {
		t.Fatalf("log holds %d bytes past its cap", held)
	}
	s.Finish()
	c2, err := s.Attach(0)
	if err != ErrTooLarge {
		t.Fatalf("resume of an overflowed session: %v, %v", c2, err)
	}
}

func TestAheadBackpressure(t *testing.T) {
	const ahead = 3
	r, _ := newTest(Options{Ahead: ahead})
	s, _ := r.Open("", "native", func() {})
	c, _ := s.Attach(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 30; i++ {
			if err := s.Append(uint64(i), []byte{'x'}); err != nil {
				t.Error(err)
				return
			}
		}
		s.Finish()
	}()
	total := 0
	deadline := time.Now().Add(time.Minute) // deadlock guard
	for {
		// Let the producer run as far as it can, then check it stopped
		// within Ahead frames of what the client took.
		for {
			s.mu.Lock()
			lead, fin := s.next()-1-c.pos, s.done
			s.mu.Unlock()
			if fin || lead >= ahead {
				if lead > ahead {
					t.Fatalf("producer %d frames ahead, limit %d", lead, ahead)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("producer stuck")
			}
			runtime.Gosched()
		}
		frames, err := c.Next(context.Background(), nil)
		total += len(frames)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if total != 30 {
		t.Fatalf("got %d frames", total)
	}
}

func TestDiscard(t *testing.T) {
	r, _ := newTest(Options{})
	var cf cancelFlag
	s, _ := r.Open("", "k", cf.cancel)
	s.Discard()
	if r.Len() != 0 || cf.n != 1 {
		t.Fatalf("after Discard: %d sessions, cancelled %d times", r.Len(), cf.n)
	}
}

func TestMaxSessions(t *testing.T) {
	r, _ := newTest(Options{MaxSessions: 2})
	a, _ := r.Open("", "k", func() {})
	if _, err := r.Open("", "k", func() {}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open("", "k", func() {}); err != ErrFull {
		t.Fatalf("third session: %v", err)
	}
	a.Finish() // a finished session makes room
	if _, err := r.Open("", "k", func() {}); err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	if _, err := r.Get(a.ID(), "", "k"); err != ErrNotFound {
		t.Fatal("the finished session was not the one dropped")
	}
}

// TestConcurrentTakeovers runs a producer against clients that attach,
// read a little and are taken over or leave; the last one reads to the end
// and every frame arrives exactly once after its resume point.
func TestConcurrentTakeovers(t *testing.T) {
	r := NewRegistry(Options{Grace: time.Hour, Ahead: 4})
	s, _ := r.Open("", "k", func() {})
	const n = 2000
	go func() {
		for i := 1; i <= n; i++ {
			if err := s.Append(uint64(i), []byte(fmt.Sprintf("%d,", i))); err != nil {
				t.Error(err)
				return
			}
		}
		s.Finish()
	}()
	var pos uint64
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for round := 0; ; round++ {
		c, err := s.Attach(pos)
		if err != nil {
			t.Fatal(err)
		}
		// A rival attaches now and then, taking over from c.
		if round%3 == 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rc, err := s.Attach(0)
				if err == nil {
					rc.Next(ctx, nil)
					rc.Close()
				}
			}()
		}
		for k := 0; k < 3; k++ {
			frames, err := c.Next(ctx, nil)
			for _, f := range frames {
				pos++
				if want := fmt.Sprintf("%d,", pos); string(f) != want {
					t.Fatalf("frame %q, want %q", f, want)
				}
			}
			if err == io.EOF {
				c.Close()
				wg.Wait()
				if pos != n {
					t.Fatalf("ended at %d of %d", pos, n)
				}
				return
			}
			if errors.Is(err, ErrTakenOver) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
}

func TestParseID(t *testing.T) {
	id := "rs_0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in  string
		id  string
		seq uint64
		ok  bool
	}{
		{id + "-0", id, 0, true},
		{id + "-17", id, 17, true},
		{id + "-18446744073709551615", id, 1<<64 - 1, true},
		{id + "-18446744073709551616", "", 0, false},
		{id + "-", "", 0, false},
		{id + "-+1", "", 0, false},
		{id + "-01", "", 0, false},
		{id + "--1", "", 0, false},
		{id + "-1x", "", 0, false},
		{id[:34] + "-1", "", 0, false},
		{"rs_0123456789ABCDEF0123456789abcdef-1", "", 0, false},
		{"xx_0123456789abcdef0123456789abcdef-1", "", 0, false},
		{"17", "", 0, false},
		{"", "", 0, false},
	} {
		gotID, seq, ok := ParseID(tc.in)
		if gotID != tc.id || seq != tc.seq || ok != tc.ok {
			t.Errorf("ParseID(%q) = %q, %d, %v; want %q, %d, %v", tc.in, gotID, seq, ok, tc.id, tc.seq, tc.ok)
		}
	}
}

func FuzzParseID(f *testing.F) {
	f.Add("rs_0123456789abcdef0123456789abcdef-5")
	f.Add("rs_-1")
	f.Add("42")
	f.Fuzz(func(t *testing.T, s string) {
		id, seq, ok := ParseID(s)
		if !ok {
			return
		}
		if FormatID(id, seq) != s {
			t.Fatalf("ParseID(%q) = %q, %d does not format back", s, id, seq)
		}
	})
}

func TestValidID(t *testing.T) {
	id := "rs_0123456789abcdef0123456789abcdef"
	for in, want := range map[string]bool{
		id:                                    true,
		id[:34]:                               false,
		id + "0":                              false,
		"rs_0123456789ABCDEF0123456789abcdef": false,
		"xx_0123456789abcdef0123456789abcdef": false,
		id + "-1":                             false,
		"":                                    false,
	} {
		if ValidID(in) != want {
			t.Errorf("ValidID(%q) = %v", in, !want)
		}
	}
}

func TestRegistryCancel(t *testing.T) {
	r, ft := newTest(Options{})
	var cf cancelFlag
	s, _ := r.Open("team:a:k", "openai.chat", cf.cancel)
	c, _ := s.Attach(0)
	appendN(t, s, 1, 2)
	c.Close() // the client left: the grace period runs
	g := ft.last(t)
	for _, tc := range []struct{ name, id, owner string }{
		{"other owner", s.ID(), "team:b:k"},
		{"no owner", s.ID(), ""},
		{"unknown", "rs_00000000000000000000000000000000", "team:a:k"},
	} {
		if err := r.Cancel(tc.id, tc.owner); err != ErrNotFound {
			t.Errorf("%s: %v, want ErrNotFound", tc.name, err)
		}
	}
	if cf.n != 0 {
		t.Fatal("a refused Cancel cancelled the generation")
	}
	// Any kind: the id and the owner name the stream.
	if err := r.Cancel(s.ID(), "team:a:k"); err != nil {
		t.Fatal(err)
	}
	if cf.n != 1 {
		t.Fatalf("cancel called %d times, want 1", cf.n)
	}
	if !g.stopped {
		t.Fatal("the grace timer still runs")
	}
	if _, err := r.Get(s.ID(), "team:a:k", "openai.chat"); err != ErrNotFound {
		t.Fatalf("Get after Cancel: %v", err)
	}
	if _, err := s.Attach(1); err != ErrNotFound {
		t.Fatalf("Attach after Cancel: %v", err)
	}
	if err := s.Append(3, []byte("x")); err != ErrCancelled {
		t.Fatalf("Append after Cancel: %v", err)
	}
	if err := r.Cancel(s.ID(), "team:a:k"); err != ErrNotFound {
		t.Fatalf("second Cancel: %v", err)
	}
	s.Finish() // the producer ends
	if r.Len() != 0 {
		t.Fatalf("%d sessions left", r.Len())
	}
}

func TestCancelEndsClientAndProducer(t *testing.T) {
	r, _ := newTest(Options{Ahead: 1})
	var cf cancelFlag
	s, _ := r.Open("", "native", cf.cancel)
	c, _ := s.Attach(0)
	appendN(t, s, 1, 1)
	appended := make(chan error)
	go func() { appended <- s.Append(2, []byte("x")) }() // waits: the client is a frame behind
	s.Cancel()
	select {
	case err := <-appended:
		if err != ErrCancelled {
			t.Fatalf("waiting Append: %v, want ErrCancelled", err)
		}
	case <-time.After(10 * time.Second): // deadlock guard
		t.Fatal("the producer still waits")
	}
	if _, err := readAll(t, c); err != ErrCancelled {
		t.Fatalf("attached client: %v, want ErrCancelled", err)
	}
	c.Close()
	s.Finish()
	if r.Len() != 0 || cf.n != 2 {
		t.Fatalf("%d sessions left, cancel called %d times", r.Len(), cf.n)
	}
}

func TestCancelFinishedSession(t *testing.T) {
	r, ft := newTest(Options{})
	s, _ := r.Open("", "native", func() {})
	appendN(t, s, 1, 1)
	s.Finish()
	ret := ft.last(t)
	if err := r.Cancel(s.ID(), ""); err != nil {
		t.Fatal(err)
	}
	if !ret.stopped || r.Len() != 0 {
		t.Fatalf("retain timer stopped %v, %d sessions left", ret.stopped, r.Len())
	}
}

// The budget over all logs drops finished sessions, oldest finished
// first; when none is left to drop, the stream writing is no longer
// resumable (it serves its attached client only).
func TestBudget(t *testing.T) {
	r, _ := newTest(Options{Budget: 30, MaxBytes: 1 << 20})
	open := func() *Session {
		s, err := r.Open("", "k", func() {})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	frame := []byte("0123456789") // 10 bytes
	a, b, c := open(), open(), open()
	for _, s := range []*Session{a, b, c} {
		if err := s.Append(1, frame); err != nil {
			t.Fatal(err)
		}
	}
	if r.Held() != 30 {
		t.Fatalf("held %d, want 30", r.Held())
	}
	b.Finish()
	a.Finish()
	// A fourth log needs room: b finished first, so b goes.
	d := open()
	if err := d.Append(1, frame); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(b.ID(), "", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("b (finished first) is still held: %v", err)
	}
	if _, err := r.Get(a.ID(), "", "k"); err != nil {
		t.Fatalf("a (finished later) was dropped first: %v", err)
	}
	if r.Held() != 30 {
		t.Fatalf("held %d, want 30", r.Held())
	}
	// Then a goes; then nothing finished is left: c, with no client,
	// can no longer be resumed.
	if err := d.Append(2, frame); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(a.ID(), "", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a is still held: %v", err)
	}
	if err := c.Append(2, frame); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("c past the budget with no client: %v, want ErrTooLarge", err)
	}
	if r.Held() > 30 {
		t.Fatalf("held %d, over the budget of 30", r.Held())
	}
	// A session that ends gives its bytes back.
	c.Cancel()
	d.Cancel()
	if r.Held() != 0 {
		t.Fatalf("held %d after every session ended, want 0", r.Held())
	}
}
