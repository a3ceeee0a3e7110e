package redislog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/resume"
)

// newStore returns a Store on the local Redis (or REDIS_URL) under a
// prefix of its own, whose keys are deleted at the end.
func newStore(t testing.TB) *Store {
	t.Helper()
	url, prefix := redistest.Prefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLog(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const id, ttl = "rs_1", time.Minute
	if _, err := s.Meta(ctx, id); !errors.Is(err, resume.ErrNotFound) {
		t.Fatalf("Meta of an unknown stream: %v, want ErrNotFound", err)
	}
	m := resume.Meta{Owner: "team:t:k", Kind: "openai.chat", Replica: "r1"}
	if err := s.Create(ctx, id, m, ttl); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Meta(ctx, id); err != nil || got.Owner != m.Owner || got.Kind != m.Kind || got.Replica != m.Replica || got.Call != nil {
		t.Fatalf("Meta = %+v, %v; want %+v", got, err, m)
	}
	if err := s.Describe(ctx, id, []byte(`{"id":"call_1"}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Meta(ctx, id); err != nil || string(got.Call) != `{"id":"call_1"}` || got.Owner != m.Owner {
		t.Fatalf("Meta after Describe = %+v, %v", got, err)
	}
	notes := []string{"He", "llo", ""}
	for i, f := range []string{"a", "b\nc", "d"} {
		if err := s.Append(ctx, id, uint64(i+1), []byte(f), []byte(notes[i]), ttl); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(ctx, id, 3, []byte("again"), []byte("!"), ttl); !errors.Is(err, resume.ErrExists) {
		t.Fatalf("a second event 3: %v, want ErrExists", err)
	}
	if last, end, err := s.Tail(ctx, id); err != nil || last != 3 || end != "" {
		t.Fatalf("Tail = %d %q %v, want 3 \"\"", last, end, err)
	}
	got, end, err := s.Read(ctx, id, 1, 0, nil)
	if err != nil || end != "" || len(got) != 2 || string(got[0]) != "b\nc" || string(got[1]) != "d" {
		t.Fatalf("Read after 1 = %q %q %v", got, end, err)
	}
	if err := s.End(ctx, id, "r1", "done", ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctx, id, "r1", "cancelled", ttl); !errors.Is(err, resume.ErrExists) {
		t.Fatalf("a second end: %v, want ErrExists", err)
	}
	if err := s.Append(ctx, id, 4, []byte("late"), nil, ttl); !errors.Is(err, resume.ErrExists) {
		t.Fatalf("an event after the end: %v, want ErrExists", err)
	}
	if last, end, err := s.Tail(ctx, id); err != nil || last != 3 || end != "done" {
		t.Fatalf("Tail = %d %q %v, want 3 done", last, end, err)
	}
	if n, err := s.Notes(ctx, id); err != nil || string(n) != "Hello" {
		t.Fatalf("Notes = %q, %v; want Hello (not the refused event's)", n, err)
	}
	// A claim succeeds once, from the replica that generates it.
	for i, want := range []bool{false, true, false} {
		dead := []string{"r9", "r1", "r1"}[i]
		if ok, err := s.Claim(ctx, id, dead, "r2"); err != nil || ok != want {
			t.Fatalf("claim %d from %s: %v, %v; want %v", i, dead, ok, err, want)
		}
	}
	if m, _ := s.Meta(ctx, id); m.Replica != "r2" {
		t.Fatalf("after the claim the replica is %q, want r2", m.Replica)
	}
	got, end, err = s.Read(ctx, id, 3, 0, nil)
	if err != nil || end != "done" || len(got) != 0 {
		t.Fatalf("Read at the end = %q %q %v", got, end, err)
	}
	if d := s.rdb.PTTL(ctx, s.logKey(id)).Val(); d <= 0 || d > ttl {
		t.Fatalf("the log's TTL is %v, want (0, %v]", d, ttl)
	}
}

// A blocked read returns as soon as an event is appended.
func TestReadFollows(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	s.Create(ctx, "rs_2", resume.Meta{}, time.Minute)
	s.Append(ctx, "rs_2", 1, []byte("one"), nil, time.Minute)
	got := make(chan string)
	go func() {
		// Blocks until "two" arrives: a minute is only a deadlock guard.
		f, _, err := s.Read(ctx, "rs_2", 1, time.Minute, nil)
		if err != nil || len(f) != 1 {
			got <- "error"
			return
		}
		got <- string(f[0])
	}()
	// The reader may or may not be blocked yet; XREAD takes the event
	// either way.
	s.Append(ctx, "rs_2", 2, []byte("two"), nil, time.Minute)
	if g := <-got; g != "two" {
		t.Fatalf("read %q, want two", g)
	}
}

func TestControlAndHeartbeat(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready, msgs := make(chan struct{}), make(chan string, 1)
	go s.Subscribe(ctx, func() { close(ready) }, func(m string) { msgs <- m })
	<-ready
	if err := s.Publish(ctx, "cancel|rs_3|"); err != nil {
		t.Fatal(err)
	}
	if m := <-msgs; m != "cancel|rs_3|" {
		t.Fatalf("got %q", m)
	}
	if ok, err := s.Alive(ctx, "r1"); ok || err != nil {
		t.Fatalf("Alive before a beat = %v %v", ok, err)
	}
	s.Beat(ctx, "r1", time.Minute)
	if ok, err := s.Alive(ctx, "r1"); !ok || err != nil {
		t.Fatalf("Alive after a beat = %v %v", ok, err)
	}
	s.rdb.Del(ctx, s.aliveKey("r1")) // as its expiry would
	if ok, _ := s.Alive(ctx, "r1"); ok {
		t.Fatal("alive without its key")
	}
}

// The index the sweeper reads: Create puts a stream in its replica's set,
// Claim moves it, End takes it out; a replica with no streams and no
// heartbeat is forgotten, one with either is not.
func TestStreamsIndex(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const ttl = time.Minute
	members := func(replica string) string {
		t.Helper()
		ids, err := s.Streams(ctx, replica)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return strings.Join(ids, ",")
	}
	replicas := func() string {
		t.Helper()
		rs, err := s.Replicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(rs)
		return strings.Join(rs, ",")
	}
	for _, id := range []string{"rs_1", "rs_2"} {
		if err := s.Create(ctx, id, resume.Meta{Owner: "o", Kind: "k", Replica: "r1"}, ttl); err != nil {
			t.Fatal(err)
		}
	}
	if got := members("r1"); got != "rs_1,rs_2" {
		t.Fatalf("r1's streams %q after two Creates", got)
	}
	if got := replicas(); got != "r1" {
		t.Fatalf("replicas %q, want r1", got)
	}
	if ok, err := s.Claim(ctx, "rs_2", "r1", "r2"); !ok || err != nil {
		t.Fatalf("Claim: %v, %v", ok, err)
	}
	if ok, _ := s.Claim(ctx, "rs_2", "r1", "r3"); ok {
		t.Fatal("a second Claim of the same dead replica's stream went in")
	}
	if a, b := members("r1"), members("r2"); a != "rs_1" || b != "rs_2" {
		t.Fatalf("after the claim r1 has %q, r2 %q; want rs_1, rs_2", a, b)
	}
	if got := replicas(); got != "r1,r2" {
		t.Fatalf("replicas %q, want r1,r2", got)
	}
	if err := s.End(ctx, "rs_2", "r2", "interrupted", ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctx, "rs_2", "r2", "interrupted", ttl); !errors.Is(err, resume.ErrExists) {
		t.Fatalf("a second End: %v, want ErrExists", err)
	}
	if got := members("r2"); got != "" {
		t.Fatalf("r2's streams %q after End, want none", got)
	}
	if err := s.Beat(ctx, "r2", ttl); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"r1", "r2"} {
		if err := s.Forget(ctx, r, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := replicas(); got != "r1,r2" {
		t.Fatalf("replicas %q after Forget of r1 (has a stream) and r2 (alive), want both kept", got)
	}
	if err := s.Forget(ctx, "r1", "rs_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "r1", ""); err != nil {
		t.Fatal(err)
	}
	if got := replicas(); got != "r2" {
		t.Fatalf("replicas %q after Forget of r1 (no streams, no heartbeat), want r2", got)
	}
	// Every key the index made expires.
	keys, _ := s.rdb.Keys(ctx, s.prefix+"*").Result()
	for _, k := range keys {
		if d, err := s.rdb.PTTL(ctx, k).Result(); err != nil || d < 0 {
			t.Errorf("key %s has no TTL (%v, %v)", k, d, err)
		}
	}
}
