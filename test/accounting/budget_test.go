package accounting_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/test/cluster"
)

// A budget worth exactly seven calls at their worst case (max_tokens 4 at
// 0.125 per output token, input free) serves exactly seven of 60
// concurrent calls over three replicas, plain and create-and-call-stream
// alike, and settles to the exact spend.
func TestBudgetThreeReplicas(t *testing.T) {
	c := start(t, cluster.Options{Replicas: 3, Postgres: true, Redis: true,
		Config: "prices:\n  mock/default: {input: 0, output: 125000}\n"})
	base := c.URLs()[0]
	tm, keys := newTeam(t, base, "budget", 1000, 3.5)
	body := `{"model":"mock/default?tokens=4","max_tokens":4,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	var served atomic.Int64
	var mu sync.Mutex
	other := map[string]int{}
	var wg sync.WaitGroup
	for i := range 60 {
		path := []string{"/v1/chat/completions", "/api/jobs/create-and-call-stream"}[i%2]
		wg.Go(func() {
			code, _, done, err := stream(c.Next(), path, keys[i%len(keys)], body, nil)
			if done {
				served.Add(1)
				return
			}
			mu.Lock()
			other[fmt.Sprintf("%d %v", code, err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	after := getTeam(t, base, tm.ID)
	if served.Load() != 7 || other["402 <nil>"] != 53 || after.Spent != 3.5 || after.BudgetReserved != 0 || after.Reserved != 0 {
		t.Fatalf("served %d, others %v, team %+v; want 7 served, 53 refused with 402, spent 3.5, nothing reserved", served.Load(), other, after)
	}
	// Paid: 4 plain calls' credits or completed jobs, one each.
	if after.Credits != 1000-7 {
		t.Fatalf("credits %d, want %d", after.Credits, 1000-7)
	}
}
