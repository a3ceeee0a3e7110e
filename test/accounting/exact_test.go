package accounting_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/test/cluster"
)

const chatBody = `{"model":"mock/default?text=paid%20for","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// spends makes n concurrent spends against the team of keys, a third each
// of plain calls, create-and-call-stream and jobs (create, call, complete,
// each step on the next replica), and returns how many were served (a
// whole stream, and for a job its completion) and the other outcomes.
func spends(t *testing.T, c *cluster.Cluster, keys []string, n int) (served int64, other map[string]int) {
	var mu sync.Mutex
	other = map[string]int{}
	note := func(s string) { mu.Lock(); other[s]++; mu.Unlock() }
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		key := keys[i%len(keys)]
		wg.Go(func() {
			switch i % 3 {
			case 0:
				code, _, done, err := stream(c.Next(), "/v1/chat/completions", key, chatBody, nil)
				if done {
					ok.Add(1)
					return
				}
				note(fmt.Sprintf("plain %d %v", code, err))
			case 1:
				code, _, done, err := stream(c.Next(), "/api/jobs/create-and-call-stream", key, chatBody, nil)
				if done {
					ok.Add(1)
					return
				}
				note(fmt.Sprintf("create-and-call %d %v", code, err))
			case 2:
				code, b, err := call(c.Next(), "POST", "/api/jobs/create", key, `{"job_type":"mixed"}`)
				if code != 200 || err != nil {
					note(fmt.Sprintf("job create %d %v", code, err))
					return
				}
				var job struct {
					JobID string `json:"job_id"`
				}
				json.Unmarshal([]byte(b), &job)
				code, _, done, err := stream(c.Next(), "/api/jobs/"+job.JobID+"/llm-call-stream", key, chatBody, nil)
				if !done {
					note(fmt.Sprintf("job call %d %v", code, err))
					return
				}
				code, b, err = call(c.Next(), "POST", "/api/jobs/"+job.JobID+"/complete", key, `{"status":"completed"}`)
				if code != 200 || err != nil {
					note(fmt.Sprintf("job complete %d %s %v", code, b, err))
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return ok.Load(), other
}

// watchBalance checks, until stop is called, that the team's balance and
// free credits never go below zero.
func watchBalance(t *testing.T, base, teamID string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			tm := getTeam(t, base, teamID)
			if tm.Credits < 0 || tm.Credits-tm.Reserved < 0 {
				t.Errorf("balance went negative: %+v", tm)
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// exact runs 1,000 mixed spends against 500 credits and checks that
// exactly 500 were served, every one paid and recorded once, the rest
// refused with 402, nothing left reserved.
func exact(t *testing.T, c *cluster.Cluster) {
	base := c.URLs()[0]
	tm, keys := newTeam(t, base, "exact", 500, 0)
	stop := watchBalance(t, c.URLs()[len(c.URLs())-1], tm.ID)
	served, other := spends(t, c, keys, 1000)
	stop()
	refused := 0
	for k, n := range other {
		switch k {
		case "plain 402 <nil>", "create-and-call 402 <nil>", "job create 402 <nil>":
			refused += n
		default:
			t.Errorf("%d spends ended %q", n, k)
		}
	}
	after := getTeam(t, base, tm.ID)
	if served != 500 || refused != 500 || after.Credits != 0 || after.Reserved != 0 {
		t.Fatalf("served %d, refused %d, team after %+v; want 500 served and paid, 500 refused, 0 left, 0 reserved", served, refused, after)
	}
	// Every served call is recorded once: plain calls with their credit,
	// job calls in their (charged) job.
	recs := records(t, base, tm.ID)
	ids := map[string]bool{}
	var plainPaid, jobCalls int64
	for _, r := range recs {
		if ids[r.ID] {
			t.Fatalf("call %s recorded twice", r.ID)
		}
		ids[r.ID] = true
		switch {
		case r.Status != "ok":
			t.Fatalf("a failed call was recorded: %+v", r)
		case r.JobID != "":
			jobCalls++
		default:
			plainPaid += r.Credits
		}
	}
	if int64(len(recs)) != served || plainPaid+jobCalls != 500 {
		t.Fatalf("%d records (%d plain credits, %d job calls), want 500 served calls paid once each", len(recs), plainPaid, jobCalls)
	}
}

// Three replicas on one PostgreSQL and one Redis: 1,000 concurrent mixed
// spends against 500 credits serve exactly 500, all paid.
func TestExactCreditsThreeReplicas(t *testing.T) {
	exact(t, start(t, cluster.Options{Replicas: 3, Postgres: true, Redis: true}))
}

// The same on one replica with SQLite.
func TestExactCreditsSQLite(t *testing.T) {
	exact(t, start(t, cluster.Options{Replicas: 1}))
}
