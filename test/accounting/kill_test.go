package accounting_test

import (
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/test/cluster"
)

// A replica killed with SIGKILL while it streams: every call a client saw
// end is recorded exactly once and paid once; the killed replica's calls
// are neither recorded nor charged, and their reservations are released by
// the lease (1s here) without waiting for the replica to come back.
func TestKillReplicaMidStream(t *testing.T) {
	c := start(t, cluster.Options{Replicas: 3, Postgres: true, Redis: true, Env: []string{"RUNNEL_RESERVATION_LEASE=1s"}})
	base := c.URLs()[0]
	tm, keys := newTeam(t, base, "killed", 1000, 0)
	body := `{"model":"mock/default?tokens=40&itl=150ms","stream":true,"messages":[{"role":"user","content":"hi"}]}` // 6 s: every stream must still be open when the kill comes, however slowly 90 start on a loaded machine

	const n = 90
	type result struct {
		replica int
		id      string
		done    bool
	}
	results := make([]result, n)
	first := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := i % 3
			_, id, done, _ := stream(c.Replicas[r].BaseURL, "/v1/chat/completions", keys[i%len(keys)], body, first)
			results[i] = result{r, id, done}
		})
	}
	deadline := time.After(time.Minute) // a deadlock guard
	for range n {
		select {
		case <-first:
		case <-deadline:
			t.Fatal("not every stream started")
		}
	}
	c.Replicas[1].Kill()
	wg.Wait()

	recs := records(t, base, tm.ID)
	byID := map[string]record{}
	var paid int64
	for _, r := range recs {
		if _, dup := byID[r.ID]; dup {
			t.Fatalf("call %s recorded twice", r.ID)
		}
		byID[r.ID] = r
		paid += r.Credits
	}
	completed := 0
	for _, r := range results {
		switch {
		case r.replica == 1 && r.done:
			t.Fatalf("a stream of the killed replica ended well: %+v", r)
		case r.replica != 1 && !r.done:
			t.Fatalf("a stream of a live replica broke: %+v", r)
		case r.done:
			completed++
			if rec, ok := byID[r.id]; !ok || rec.Status != "ok" || rec.Credits != 1 {
				t.Fatalf("served call %s: record %+v (found %v), want ok and 1 credit", r.id, rec, ok)
			}
		}
	}
	if completed != 60 || len(recs) != 60 || paid != 60 {
		t.Fatalf("%d completed, %d records, %d credits paid; want 60 each", completed, len(recs), paid)
	}
	// The killed replica's 30 reservations go when its lease ends.
	for {
		tm := getTeam(t, base, tm.ID)
		if tm.Reserved == 0 {
			if tm.Credits != 1000-60 {
				t.Fatalf("team %+v, want %d credits", tm, 1000-60)
			}
			break
		}
		select {
		case <-deadline:
			t.Fatalf("reservations still held a minute on: %+v", tm)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
