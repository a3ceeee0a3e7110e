package accounting_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/test/cluster"
)

// untilRefused makes calls on base one after another until one is
// refused with 402, and returns how many were served.
func untilRefused(t *testing.T, base, key string) int {
	t.Helper()
	for n := 0; ; n++ {
		code, _, done, err := stream(base, "/v1/chat/completions", key, chatBody, nil)
		if code == 402 {
			return n
		}
		if !done || err != nil {
			t.Fatalf("call %d: %d %v", n, code, err)
		}
	}
}

// Credit blocks across three replicas: the credits one replica holds in
// a block, unused, go to calls on another (which waits for them rather
// than refusing), and below the floor each replica can use the last
// credits; every call served is paid once.
func TestBlocksLastCreditsThreeReplicas(t *testing.T) {
	c := start(t, cluster.Options{Replicas: 3, Postgres: true, Redis: true})
	base := c.URLs()[0]
	tm, keys := newTeam(t, base, "blocks", 100, 0)
	// Replica 0 takes a block (of 4: its first) for a call that runs
	// on, while 100 calls at once on replica 1 want every credit.
	slow := `{"model":"mock/default?tokens=20&itl=100ms","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	first := make(chan struct{}, 1)
	var wg sync.WaitGroup
	var slowDone bool
	wg.Go(func() {
		_, _, slowDone, _ = stream(c.Replicas[0].BaseURL, "/v1/chat/completions", keys[0], slow, first)
	})
	<-first
	var mu sync.Mutex
	outcomes := map[string]int{}
	var calls sync.WaitGroup
	for i := range 100 {
		calls.Go(func() {
			code, _, done, err := stream(c.Replicas[1].BaseURL, "/v1/chat/completions", keys[i%4], chatBody, nil)
			mu.Lock()
			outcomes[fmt.Sprintf("%d %v %v", code, done, err)]++
			mu.Unlock()
		})
	}
	calls.Wait()
	if outcomes["200 true <nil>"] != 99 || outcomes["402 false <nil>"] != 1 {
		t.Fatalf("replica 1: %v; want 99 served (the credits not in use, those unused in replica 0's block included) and 1 refused", outcomes)
	}
	wg.Wait()
	if !slowDone {
		t.Fatal("the running call broke")
	}
	// Three credits, under the floor: each replica gets one.
	mustJSON(t, base, "POST", "/admin/teams/"+tm.ID+"/credits", adminKey, `{"amount":3}`, 200)
	for i, r := range c.Replicas {
		if code, _, done, err := stream(r.BaseURL, "/v1/chat/completions", keys[i], chatBody, nil); !done {
			t.Fatalf("replica %d, one of the last three credits: %d %v", i, code, err)
		}
	}
	if code, _, _, _ := stream(c.Next(), "/v1/chat/completions", keys[3], chatBody, nil); code != 402 {
		t.Fatalf("a call past the credits: %d, want 402", code)
	}
	after := getTeam(t, base, tm.ID)
	var paid int64
	recs := records(t, base, tm.ID)
	for _, r := range recs {
		paid += r.Credits
	}
	if after.Credits != 0 || after.Reserved != 0 || len(recs) != 103 || paid != 103 {
		t.Fatalf("team %+v, %d records paying %d; want 103 calls paid once, nothing left", after, len(recs), paid)
	}
}

// A replica killed while calls it admitted from its block stream: the
// block (those calls' credits, and what it had not handed out) is held
// until its lease ends, then released uncharged, and another replica can
// spend every credit not paid for.
func TestKilledReplicaBlockReleased(t *testing.T) {
	c := start(t, cluster.Options{Replicas: 2, Postgres: true, Redis: true, Env: []string{"RUNNEL_RESERVATION_LEASE=1s"}})
	base := c.URLs()[0]
	tm, keys := newTeam(t, base, "killed-block", 400, 0)
	// Warm replica 1's block size with finished calls, then open five
	// long streams there.
	for i := range 10 {
		if code, _, done, err := stream(c.Replicas[1].BaseURL, "/v1/chat/completions", keys[i%4], chatBody, nil); !done {
			t.Fatalf("call %d: %d %v", i, code, err)
		}
	}
	long := `{"model":"mock/default?tokens=40&itl=200ms","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	first := make(chan struct{}, 5)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() { stream(c.Replicas[1].BaseURL, "/v1/chat/completions", keys[i%4], long, first) })
	}
	for range 5 {
		<-first
	}
	c.Replicas[1].Kill()
	wg.Wait()
	if held := getTeam(t, base, tm.ID); held.Reserved < 5 {
		t.Fatalf("right after the kill: %+v; want at least the 5 running calls' credits held", held)
	}
	deadline := time.Now().Add(time.Minute) // a deadlock guard
	for getTeam(t, base, tm.ID).Reserved != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still held a minute on: %+v", getTeam(t, base, tm.ID))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after := getTeam(t, base, tm.ID); after.Credits != 390 {
		t.Fatalf("team %+v, want 390: the 10 finished calls paid, the 5 killed ones not", after)
	}
	if got := untilRefused(t, c.Replicas[0].BaseURL, keys[0]); got != 390 {
		t.Fatalf("replica 0 served %d of the 390 left", got)
	}
	if recs := records(t, base, tm.ID); len(recs) != 400 {
		t.Fatalf("%d records, want 400", len(recs))
	}
}
