package resume_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/resume/redislog"
)

// replicas returns n registries sharing one Redis under a fresh prefix,
// as n processes behind a load balancer would.
func replicas(t testing.TB, n int, o resume.Options) []*resume.Registry {
	t.Helper()
	return replicasWith(t, n, func(int) resume.Options { return o })
}

// replicasWith is replicas with replica i's options from opts(i). Each
// replica's heartbeats last an hour (steady) until kill.
func replicasWith(t testing.TB, n int, opts func(i int) resume.Options) []*resume.Registry {
	t.Helper()
	url, prefix := redistest.Prefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := redislog.Open(ctx, url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rs []*resume.Registry
	for i := range n {
		o := opts(i)
		if o.Shared == nil {
			o.Shared = st
		} else { // a wrapper of the store: given a nil Shared to fill
			o.Shared = o.Shared.(interface {
				wrap(resume.Shared) resume.Shared
			}).wrap(st)
		}
		o.Shared = steady{o.Shared}
		o.Replica = fmt.Sprintf("r%d", i)
		r := resume.NewRegistry(o)
		t.Cleanup(r.Close)
		kills.Store(r, func() {
			r.Close()
			beat := o.Heartbeat
			if beat <= 0 {
				beat = resume.DefaultHeartbeat
			}
			if err := st.Beat(context.Background(), o.Replica, 3*beat); err != nil {
				t.Fatal(err)
			}
		})
		t.Cleanup(func() { kills.Delete(r) })
		rs = append(rs, r)
	}
	return rs
}

// steady is a Shared whose heartbeats last an hour. A live replica's
// beats are three heartbeats apart at most only on a quiet machine: on a
// loaded one (the scheduler, Redis) they came later, the other replicas
// took it for dead and interrupted or continued its streams, and the
// tests failed now and then. The replicas a test means to die, it kills.
type steady struct{ resume.Shared }

func (s steady) Beat(ctx context.Context, replica string, _ time.Duration) error {
	return s.Shared.Beat(ctx, replica, time.Hour)
}

// kills holds each registry's kill, by registry.
var kills sync.Map

// kill stops r as a kill -9 would: no more heartbeats, so that the
// others take it for dead once its last beat has expired, three
// heartbeats after it.
func kill(r *resume.Registry) {
	f, _ := kills.Load(r)
	f.(func())()
}

func frame(id string, seq uint64, text string) []byte {
	return []byte("id: " + resume.FormatID(id, seq) + "\ndata: " + text + "\n\n")
}

// read reads r until it ends, returning the frames joined and the error.
func read(t *testing.T, r resume.Reader) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // deadlock guard
	defer cancel()
	var sb strings.Builder
	for {
		fs, err := r.Next(ctx, nil)
		for _, f := range fs {
			sb.Write(f)
		}
		if err != nil {
			return sb.String(), err
		}
	}
}

// A stream generated on replica 0 is replayed and followed on replica 1,
// then read there again once finished (from Redis: replica 0 keeps no
// finished log in memory).
func TestSharedResumeOnAnotherReplica(t *testing.T) {
	rs := replicas(t, 2, resume.Options{Grace: time.Hour})
	s, err := rs[0].Open("team:a", "openai.chat", func() {})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.Attach(0)
	want := ""
	for i := uint64(1); i <= 3; i++ {
		s.Append(i, frame(s.ID(), i, fmt.Sprint("t", i)))
		want += string(frame(s.ID(), i, fmt.Sprint("t", i)))
	}
	c.Close()

	if _, err := rs[1].Resume(s.ID(), "team:b", "openai.chat", 1); !errors.Is(err, resume.ErrNotFound) {
		t.Fatalf("another owner's resume: %v, want ErrNotFound", err)
	}
	if _, err := rs[1].Resume(s.ID(), "team:a", "anthropic.messages", 1); !errors.Is(err, resume.ErrNotFound) {
		t.Fatalf("another endpoint's resume: %v, want ErrNotFound", err)
	}
	if _, err := rs[1].Resume(s.ID(), "team:a", "openai.chat", 9); !errors.Is(err, resume.ErrBadPosition) {
		t.Fatalf("a resume after an event never sent: %v, want ErrBadPosition", err)
	}
	r, err := rs[1].Resume(s.ID(), "team:a", "openai.chat", 1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		got, err := read(t, r)
		if err != io.EOF {
			got += " ERR " + fmt.Sprint(err)
		}
		done <- got
	}()
	for i := uint64(4); i <= 5; i++ {
		if err := s.Append(i, frame(s.ID(), i, fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
		want += string(frame(s.ID(), i, fmt.Sprint("t", i)))
	}
	s.Finish()
	skip := len(frame(s.ID(), 1, "t1"))
	if got := <-done; got != want[skip:] {
		t.Fatalf("replica 1 read\n%q\nwant\n%q", got, want[skip:])
	}
	r.Close()
	if h := rs[0].Held(); h != 0 {
		t.Fatalf("replica 0 holds %d bytes of a finished shared log, want 0", h)
	}
	if rs[0].Len() != 0 {
		t.Fatalf("replica 0 holds %d sessions, want 0", rs[0].Len())
	}
	for i, reg := range rs {
		if _, err := reg.Resume(s.ID(), "team:a", "openai.chat", 5); !errors.Is(err, resume.ErrComplete) {
			t.Fatalf("replica %d: a resume at the end: %v, want ErrComplete", i, err)
		}
		r, err := reg.Resume(s.ID(), "team:a", "openai.chat", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := read(t, r); got != want || err != io.EOF {
			t.Fatalf("replica %d replays %q, %v", i, got, err)
		}
		r.Close()
	}
}

// A cancel on replica 1 stops the generation on replica 0 at once (its
// cancel func runs, its next Append fails) and ends readers everywhere.
func TestSharedCancelOnAnotherReplica(t *testing.T) {
	rs := replicas(t, 2, resume.Options{Grace: time.Hour})
	cancelled := make(chan struct{})
	s, _ := rs[0].Open("team:a", "native.inference", func() {
		select {
		case <-cancelled:
		default:
			close(cancelled)
		}
	})
	c, _ := s.Attach(0)
	s.Append(1, frame(s.ID(), 1, "x"))
	if err := rs[1].Cancel(s.ID(), "team:b"); !errors.Is(err, resume.ErrNotFound) {
		t.Fatalf("another owner's cancel: %v, want ErrNotFound", err)
	}
	if err := rs[1].Cancel(s.ID(), "team:a"); err != nil {
		t.Fatal(err)
	}
	<-cancelled // a deadlock guard is the test's timeout
	if _, err := read(t, c); !errors.Is(err, resume.ErrCancelled) {
		t.Fatalf("the attached client: %v, want ErrCancelled", err)
	}
	if err := s.Append(2, frame(s.ID(), 2, "y")); err == nil {
		t.Fatal("Append after a cancel succeeded")
	}
	if _, err := rs[1].Resume(s.ID(), "team:a", "native.inference", 1); !errors.Is(err, resume.ErrNotFound) {
		t.Fatalf("resume of a cancelled stream: %v, want ErrNotFound", err)
	}
}

// A client attached on replica 1 keeps replica 0's generation going past
// the grace period; when it leaves, the grace period starts.
func TestSharedRemoteClientHoldsGrace(t *testing.T) {
	rs := replicas(t, 2, resume.Options{Grace: 200 * time.Millisecond, Heartbeat: 50 * time.Millisecond})
	cancelled := make(chan struct{})
	s, _ := rs[0].Open("", "openai.chat", func() { close(cancelled) })
	c, _ := s.Attach(0)
	s.Append(1, frame(s.ID(), 1, "x"))
	r, err := rs[1].Resume(s.ID(), "", "openai.chat", 1)
	if err != nil {
		t.Fatal(err)
	}
	// The local client is taken over once replica 0 hears of the remote
	// one; from then on its grace timer is off.
	if _, err := read(t, c); !errors.Is(err, resume.ErrTakenOver) {
		t.Fatalf("the local client: %v, want ErrTakenOver", err)
	}
	c.Close()
	// Still generating with the remote client attached: it reads what
	// follows, however long after the grace period.
	go func() {
		for i := uint64(2); i <= 40; i++ {
			if s.Append(i, frame(s.ID(), i, "y")) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond) // a slow generation, not an assertion
		}
		s.Finish()
	}()
	got, err := read(t, r)
	if err != io.EOF || strings.Count(got, "data: y") != 39 {
		t.Fatalf("the remote client read %d events, %v; want 39, EOF", strings.Count(got, "data: y"), err)
	}
	r.Close()
	<-cancelled // Finish releases the generation
}

// Replica 0 dies mid-stream (its heartbeat stops): a reader on replica 1
// gets the log, then the interruption event after the last event, then
// EOF, and so does any later reader.
func TestSharedOwnerDies(t *testing.T) {
	rs := replicas(t, 2, resume.Options{Grace: time.Hour, Heartbeat: 50 * time.Millisecond,
		Interrupted: func(kind, id string, seq uint64) [][]byte {
			return [][]byte{frame(id, seq, "interrupted "+kind), frame(id, seq+1, "[DONE]")}
		}})
	s, _ := rs[0].Open("", "native.inference", func() {})
	c, _ := s.Attach(0)
	s.Append(1, frame(s.ID(), 1, "a"))
	s.Append(2, frame(s.ID(), 2, "b"))
	c.Close()
	kill(rs[0]) // as a kill -9: no more heartbeats, the session never finishes
	r, err := rs[1].Resume(s.ID(), "", "native.inference", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := string(frame(s.ID(), 2, "b")) + string(frame(s.ID(), 3, "interrupted native.inference")) + string(frame(s.ID(), 4, "[DONE]"))
	if got, err := read(t, r); got != want || err != io.EOF {
		t.Fatalf("read %q, %v; want %q, EOF", got, err, want)
	}
	r.Close()
	if _, err := rs[1].Resume(s.ID(), "", "native.inference", 4); !errors.Is(err, resume.ErrComplete) {
		t.Fatalf("a resume after the interruption event: %v, want ErrComplete", err)
	}
}

// Replica 0 dies mid-stream with two readers on two other replicas: the
// log ends once, and exactly one replica is handed the orphaned call,
// with what replica 0 described and the text its logged frames carried
// (not what it noted for a frame it never logged), and the last event (the
// interruption event after the two logged).
func TestSharedOwnerDiesOrphanedOnce(t *testing.T) {
	orphans := make(chan resume.Orphan, 4)
	rs := replicas(t, 3, resume.Options{Grace: time.Hour, Heartbeat: 50 * time.Millisecond,
		Orphaned: func(_ context.Context, o resume.Orphan) { orphans <- o }})
	s, _ := rs[0].Open("team:a:k", "openai.chat", func() {})
	c, _ := s.Attach(0)
	if err := s.Describe([]byte(`{"id":"call_1"}`)); err != nil {
		t.Fatal(err)
	}
	s.Note([]byte("Hel"))
	s.Note([]byte("|hmm"))
	s.Append(1, frame(s.ID(), 1, "a"))
	s.Note([]byte("|lo"))
	s.Append(2, frame(s.ID(), 2, "b"))
	s.Note([]byte(" never logged"))
	c.Close()
	kill(rs[0]) // as a kill -9

	done := make(chan error, 2)
	for _, reg := range rs[1:] {
		r, err := reg.Resume(s.ID(), "team:a:k", "openai.chat", 2)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer r.Close()
			_, err := read(t, r)
			done <- err
		}()
	}
	eofs := 0
	for range 2 {
		// The later attach takes the earlier reader over, unless that one
		// saw the end first.
		switch err := <-done; {
		case err == io.EOF:
			eofs++
		case !errors.Is(err, resume.ErrTakenOver):
			t.Fatalf("a reader ended with %v, want EOF or ErrTakenOver", err)
		}
	}
	if eofs == 0 {
		// Each attach took the other over (their messages crossed): a
		// reader alone now.
		r, err := rs[1].Resume(s.ID(), "team:a:k", "openai.chat", 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := read(t, r); err != io.EOF {
			t.Fatalf("a reader alone ended with %v, want EOF", err)
		}
		r.Close()
	}
	o := <-orphans
	want := resume.Orphan{ID: s.ID(), Kind: "openai.chat", Owner: "team:a:k", Call: []byte(`{"id":"call_1"}`),
		Notes: []byte("Hel|hmm|lo"), Last: 3}
	if fmt.Sprint(o) != fmt.Sprint(want) {
		t.Fatalf("orphan %+v, want %+v", o, want)
	}
	select {
	case o := <-orphans:
		t.Fatalf("a second replica was handed the orphan: %+v", o)
	default:
	}
}

// continueOn is an Options.Continue that sends the orphan to continued,
// adopts the stream on reg() and writes its events "t1" to "tn" again,
// from the first.
func continueOn(t *testing.T, reg func() *resume.Registry, n uint64, continued chan<- resume.Orphan) func(context.Context, resume.Orphan, string) bool {
	return func(_ context.Context, o resume.Orphan, nonce string) bool {
		continued <- o
		s, err := reg().Adopt(o, nonce, func() {})
		if err != nil {
			t.Error(err)
			return false
		}
		go func() {
			for seq := uint64(1); seq <= n; seq++ {
				s.Append(seq, frame(s.ID(), seq, fmt.Sprint("t", seq)))
			}
			s.Finish()
		}()
		return true
	}
}

// unswept is a Shared whose replica's sweeps find no replica to sweep.
type unswept struct{ resume.Shared }

func (unswept) wrap(s resume.Shared) resume.Shared { return unswept{s} }

func (unswept) Replicas(context.Context) ([]string, error) { return nil, nil }

// Replica 0 dies mid-stream; replicas 1 and 2 both have a reader: one
// claims the stream and continues it (its producer writes every event
// again, those logged already are skipped), and both readers read on to
// the end with nothing lost or repeated. The readers' claims are what is
// tested: the replicas do not sweep (unswept). A sweep on the replica
// whose reader the other's attach took over races that other reader's
// claim, and won now and then on a loaded machine, interrupting the
// stream (see TestSharedSweepLeavesFollowedStream).
func TestSharedOwnerDiesContinued(t *testing.T) {
	var rs []*resume.Registry
	continued := make(chan resume.Orphan, 4)
	rs = replicasWith(t, 3, func(i int) resume.Options {
		return resume.Options{Grace: time.Hour, Heartbeat: 50 * time.Millisecond, Shared: unswept{},
			Continue: continueOn(t, func() *resume.Registry { return rs[i] }, 4, continued),
			Orphaned: func(context.Context, resume.Orphan) { t.Error("a continued stream was taken for interrupted") }}
	})
	s, _ := rs[0].Open("", "openai.chat", func() {})
	c, _ := s.Attach(0)
	s.Note([]byte("n1"))
	s.Append(1, frame(s.ID(), 1, "t1"))
	s.Append(2, frame(s.ID(), 2, "t2"))
	c.Close()
	kill(rs[0]) // as a kill -9

	done := make(chan string, 2)
	for _, reg := range rs[1:] {
		r, err := reg.Resume(s.ID(), "", "openai.chat", 0)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer r.Close()
			got, err := read(t, r)
			done <- got + " " + fmt.Sprint(err)
		}()
	}
	want := ""
	for seq := uint64(1); seq <= 4; seq++ {
		want += string(frame(s.ID(), seq, fmt.Sprint("t", seq)))
	}
	eofs := 0
	for range 2 {
		got := <-done
		switch {
		case got == want+" EOF":
			eofs++
		case strings.HasSuffix(got, resume.ErrTakenOver.Error()):
		default:
			t.Fatalf("a reader read %q, want %q then EOF", got, want)
		}
	}
	if eofs == 0 {
		// Each attach took the other over (their messages crossed): a
		// reader alone now.
		r, err := rs[1].Resume(s.ID(), "", "openai.chat", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := read(t, r); got != want || err != io.EOF {
			t.Fatalf("a reader alone read %q, %v", got, err)
		}
		r.Close()
	}
	if o := <-continued; o.Last != 2 || string(o.Notes) != "n1" {
		t.Fatalf("continued %+v, want the log up to event 2 and its notes", o)
	}
	select {
	case o := <-continued:
		t.Fatalf("continued twice: %+v", o)
	default:
	}
	// Replayed from the store on any replica: the whole stream.
	r, err := rs[2].Resume(s.ID(), "", "openai.chat", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := read(t, r); got != want || err != io.EOF {
		t.Fatalf("replayed %q, %v", got, err)
	}
	r.Close()
}

// sweeps counts a replica's sweeps (each starts with Replicas) from the
// first that found replica r0 dead.
type sweeps struct {
	resume.Shared
	dead  atomic.Bool
	after *atomic.Int64
}

func (s *sweeps) wrap(st resume.Shared) resume.Shared { return &sweeps{Shared: st, after: s.after} }

func (s *sweeps) Alive(ctx context.Context, replica string) (bool, error) {
	ok, err := s.Shared.Alive(ctx, replica)
	if replica == "r0" && err == nil && !ok {
		s.dead.Store(true)
	}
	return ok, err
}

func (s *sweeps) Replicas(ctx context.Context) ([]string, error) {
	if s.dead.Load() {
		s.after.Add(1)
	}
	return s.Shared.Replicas(ctx)
}

// Replica 0 dies while a client on replica 1 follows its stream but is
// slow to read on: replica 1's sweeps leave the stream to that reader,
// which continues it, however many sweeps go by first. (A sweep acted a
// sweep after it found the replica dead, and interrupted the stream if
// the reader had not claimed it by then: on a loaded machine,
// TestSharedOwnerDiesContinued failed now and then.)
func TestSharedSweepLeavesFollowedStream(t *testing.T) {
	var after atomic.Int64
	continued := make(chan resume.Orphan, 4)
	var rs []*resume.Registry
	rs = replicasWith(t, 2, func(i int) resume.Options {
		o := resume.Options{Grace: time.Hour, Heartbeat: 50 * time.Millisecond,
			Orphaned: func(context.Context, resume.Orphan) { t.Error("a followed stream was swept as interrupted") }}
		if i == 1 {
			o.Shared = &sweeps{after: &after}
			o.Continue = continueOn(t, func() *resume.Registry { return rs[1] }, 3, continued)
		}
		return o
	})
	s, _ := rs[0].Open("", "openai.chat", func() {})
	s.Append(1, frame(s.ID(), 1, "t1"))
	r, err := rs[1].Resume(s.ID(), "", "openai.chat", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	kill(rs[0])
	// Two sweeps start after the one that first found replica 0 dead:
	// the one that would have settled its streams has ended.
	guard := time.Now().Add(time.Minute) // a deadlock guard
	for after.Load() < 2 {
		if time.Now().After(guard) {
			t.Fatal("replica 1 did not sweep")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := ""
	for seq := uint64(1); seq <= 3; seq++ {
		want += string(frame(s.ID(), seq, fmt.Sprint("t", seq)))
	}
	if got, err := read(t, r); got != want || err != io.EOF {
		t.Fatalf("the reader read %q, %v; want %q, EOF", got, err, want)
	}
	if o := <-continued; o.Last != 1 {
		t.Fatalf("continued %+v, want the log up to event 1", o)
	}
}

// Replica 0 dies mid-stream and no client comes back: replica 1's sweeper
// ends the log with the interruption and is handed the orphaned call,
// once; a reader arriving later reads the logged events and the
// interruption event, and nothing is handed over again.
func TestSharedOwnerDiesSweptOnce(t *testing.T) {
	orphans := make(chan resume.Orphan, 4)
	rs := replicas(t, 2, resume.Options{Grace: time.Hour, Heartbeat: 50 * time.Millisecond,
		Orphaned: func(_ context.Context, o resume.Orphan) { orphans <- o }})
	s, _ := rs[0].Open("team:a:k", "openai.chat", func() {})
	c, _ := s.Attach(0)
	if err := s.Describe([]byte(`{"id":"call_1"}`)); err != nil {
		t.Fatal(err)
	}
	s.Note([]byte("Hel"))
	s.Append(1, frame(s.ID(), 1, "a"))
	s.Note([]byte("lo"))
	s.Append(2, frame(s.ID(), 2, "b"))
	c.Close()
	kill(rs[0]) // as a kill -9: no more heartbeats, the session never finishes

	var o resume.Orphan
	select {
	case o = <-orphans:
	case <-time.After(30 * time.Second): // deadlock guard
		t.Fatal("no replica settled the stream nobody came back to")
	}
	want := resume.Orphan{ID: s.ID(), Kind: "openai.chat", Owner: "team:a:k", Call: []byte(`{"id":"call_1"}`),
		Notes: []byte("Hello"), Last: 3}
	if fmt.Sprint(o) != fmt.Sprint(want) {
		t.Fatalf("orphan %+v, want %+v", o, want)
	}

	r, err := rs[1].Resume(s.ID(), "team:a:k", "openai.chat", 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read(t, r)
	r.Close()
	if !strings.HasPrefix(got, string(frame(s.ID(), 2, "b"))) || !strings.Contains(got, resume.InterruptedMessage) || err != io.EOF {
		t.Fatalf("a reader after the sweep read %q, %v; want event 2, the interruption event, EOF", got, err)
	}
	if _, err := rs[1].Resume(s.ID(), "team:a:k", "openai.chat", 3); !errors.Is(err, resume.ErrComplete) {
		t.Fatalf("a resume after the interruption event: %v, want ErrComplete", err)
	}
	// The reader found the log ended: it recorded nothing (a reader that
	// ends the log hands the orphan over before it sees the end).
	select {
	case o := <-orphans:
		t.Fatalf("the stream was settled twice: %+v", o)
	default:
	}
}

// failingEnd is a Shared whose first End fails, as a Redis error would.
type failingEnd struct {
	resume.Shared
	failed *atomic.Bool
}

func (f failingEnd) wrap(s resume.Shared) resume.Shared { return failingEnd{s, f.failed} }

func (f failingEnd) End(ctx context.Context, id, replica, status string, ttl time.Duration) error {
	if f.failed.CompareAndSwap(false, true) {
		return errors.New("injected: Redis is unreachable")
	}
	return f.Shared.End(ctx, id, replica, status, ttl)
}

// A sweep that claims a dead replica's stream but cannot end it hands it
// back: a later sweep ends it, after the interruption event the first
// wrote (not a second one), and the call is recorded, once.
func TestSharedSweepRetries(t *testing.T) {
	orphans := make(chan resume.Orphan, 4)
	var failed atomic.Bool
	rs := replicasWith(t, 2, func(i int) resume.Options {
		o := resume.Options{Grace: time.Hour, Heartbeat: 50 * time.Millisecond,
			Orphaned: func(_ context.Context, o resume.Orphan) { orphans <- o }}
		if i == 1 {
			o.Shared = failingEnd{failed: &failed}
		}
		return o
	})
	s, _ := rs[0].Open("team:a:k", "openai.chat", func() {})
	s.Note([]byte("Hi"))
	s.Append(1, frame(s.ID(), 1, "a"))
	kill(rs[0]) // as a kill -9

	var o resume.Orphan
	select {
	case o = <-orphans:
	case <-time.After(30 * time.Second): // deadlock guard
		t.Fatal("the stream was not settled after a failed End")
	}
	if !failed.Load() || o.ID != s.ID() || string(o.Notes) != "Hi" || o.Last != 2 {
		t.Fatalf("orphan %+v (an End failed: %v); want %s, notes Hi, last event 2", o, failed.Load(), s.ID())
	}
	r, err := rs[1].Resume(s.ID(), "team:a:k", "openai.chat", 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read(t, r)
	r.Close()
	if strings.Count(got, resume.InterruptedMessage) != 1 || err != io.EOF {
		t.Fatalf("a reader read %q, %v; want the interruption event once, EOF", got, err)
	}
	select {
	case o := <-orphans:
		t.Fatalf("the stream was settled twice: %+v", o)
	default:
	}
}
