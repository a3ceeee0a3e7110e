package accounting_test

import (
	"encoding/json"
	"fmt"
	"net/http"
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
// Its client honours a 503's Retry-After (retryAgain), each try on the
// next replica; retried counts the 503s it waited out.
func spends(t *testing.T, c *cluster.Cluster, keys []string, n int) (served int64, other map[string]int, retried int64) {
	var mu sync.Mutex
	other = map[string]int{}
	note := func(s string) { mu.Lock(); other[s]++; mu.Unlock() }
	var ok, retries atomic.Int64
	send := func(path, key string) (code int, done bool, err error) {
		for tries := 0; ; {
			var h http.Header
			code, h, _, done, err = streamH(c.Next(), path, key, chatBody, nil)
			if !retryAgain(code, h, &tries, &retries) {
				return code, done, err
			}
		}
	}
	post := func(path, key, body string) (code int, b string, tries int, err error) {
		for {
			var h http.Header
			code, h, b, err = callH(c.Next(), "POST", path, key, body)
			if !retryAgain(code, h, &tries, &retries) {
				return code, b, tries, err
			}
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		key := keys[i%len(keys)]
		wg.Go(func() {
			switch i % 3 {
			case 0:
				code, done, err := send("/v1/chat/completions", key)
				if done {
					ok.Add(1)
					return
				}
				note(fmt.Sprintf("plain %d %v", code, err))
			case 1:
				code, done, err := send("/api/jobs/create-and-call-stream", key)
				if done {
					ok.Add(1)
					return
				}
				note(fmt.Sprintf("create-and-call %d %v", code, err))
			case 2:
				code, b, _, err := post("/api/jobs/create", key, `{"job_type":"mixed"}`)
				if code != 200 || err != nil {
					note(fmt.Sprintf("job create %d %v", code, err))
					return
				}
				var job struct {
					JobID  string `json:"job_id"`
					Status string `json:"status"`
				}
				json.Unmarshal([]byte(b), &job)
				code, done, err := send("/api/jobs/"+job.JobID+"/llm-call-stream", key)
				if !done {
					note(fmt.Sprintf("job call %d %v", code, err))
					return
				}
				code, b, tries, err := post("/api/jobs/"+job.JobID+"/complete", key, `{"status":"completed"}`)
				if code != 200 && tries > 0 {
					// A completion that answered 503 may have been
					// stored: the job says.
					_, b, _ = call(c.Next(), "GET", "/api/jobs/"+job.JobID, key, "")
					if json.Unmarshal([]byte(b), &job) == nil && job.Status == "completed" {
						code, err = 200, nil
					}
				}
				if code != 200 || err != nil {
					note(fmt.Sprintf("job complete %d %s %v", code, b, err))
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return ok.Load(), other, retries.Load()
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
	served, other, retried := spends(t, c, keys, 1000)
	stop()
	if retried > 0 {
		t.Logf("%d requests answered 503 (the store did not answer within a call's bound) and were sent again after their Retry-After", retried)
	}
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
