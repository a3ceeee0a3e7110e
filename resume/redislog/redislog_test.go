package redislog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/runnel/runnel/resume"
)

// newStore returns a Store on the local Redis (or REDIS_URL) under a
// prefix of its own, whose keys are deleted at the end.
func newStore(t *testing.T) *Store {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "runnel-test-" + hex.EncodeToString(b) + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, url, prefix)
	if err != nil {
		t.Fatalf("Redis at %s (start it with scripts/services): %v", url, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := s.rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			s.rdb.Del(ctx, keys...)
		}
		s.Close()
	})
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
	if err := s.End(ctx, id, "done", ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctx, id, "cancelled", ttl); !errors.Is(err, resume.ErrExists) {
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
