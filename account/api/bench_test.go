package api_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
)

// BenchmarkAddedTTFT measures the time to the first content chunk of a
// streamed OpenAI chat call over loopback HTTP, with the account layer off
// (baseline: no Accountant) and on (auth by key against the store, key and team rate
// limits, a credit reservation, the call recorded and settled), on SQLite
// and PostgreSQL, in one run. Compare the p50s: the difference is what the
// account layer adds to TTFT.
func BenchmarkAddedTTFT(b *testing.B) {
	for _, c := range []struct{ name, kind string }{{"off", ""}, {"sqlite", "sqlite"}, {"postgres", "postgres"}} {
		b.Run(c.name, func(b *testing.B) {
			var acct gateway.Accountant // nil: the gateway admits all, records nothing
			var h http.Handler
			key := ""
			mux := http.NewServeMux()
			if c.kind != "" {
				// As serve runs it: credits held before the call (in a
				// credit block unless RUNNEL_CREDIT_BLOCKS=off), the
				// record group-committed before the final bytes.
				svc := account.New(storetest.Open(b, c.kind), account.Config{Auth: true, CreditBlocks: os.Getenv("RUNNEL_CREDIT_BLOCKS") != "off", Journal: filepath.Join(b.TempDir(), "calls.journal")})
				b.Cleanup(func() { svc.Close() })
				ctx := context.Background()
				tm, _ := svc.CreateTeam(ctx, "bench", 1<<40)
				svc.SetTeamLimits(ctx, tm.ID, account.Limits{RPM: 1 << 30, TPM: 1 << 40}, 0)
				key, _, _ = svc.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 1 << 30, TPM: 1 << 40})
				acct = svc
				openai.NewServer(newGateway(acct), openai.Options{}).Register(mux)
				h = svc.Middleware(mux)
			} else {
				openai.NewServer(newGateway(acct), openai.Options{}).Register(mux)
				h = mux
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			body := `{"model":"mock/default?tokens=3","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			ttfts := make([]time.Duration, 0, b.N)
			call := func() time.Duration {
				req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(body))
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				start := time.Now()
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != 200 {
					b.Fatalf("%v %v", res, err)
				}
				var ttft time.Duration
				sc := bufio.NewScanner(res.Body)
				for sc.Scan() {
					if ttft == 0 && strings.Contains(sc.Text(), `"content"`) {
						ttft = time.Since(start)
					}
				}
				res.Body.Close()
				return ttft
			}
			for range 20 { // warm connections and caches
				call()
			}
			b.ResetTimer()
			for range b.N {
				ttfts = append(ttfts, call())
			}
			b.StopTimer()
			slices.Sort(ttfts)
			b.ReportMetric(float64(ttfts[len(ttfts)/2].Microseconds()), "p50-ttft-µs")
			b.ReportMetric(float64(ttfts[len(ttfts)*9/10].Microseconds()), "p90-ttft-µs")
		})
	}
}

// BenchmarkCreateAndCallDone measures what settling a create-and-call-stream
// job before "data: [DONE]" costs the client: the time from the request to
// the [DONE] line, and to the end of the response, on SQLite and
// PostgreSQL; the baseline, in the same run, is a call in an open job
// (llm-call-stream), which settles nothing. Compare the p50s.
func BenchmarkCreateAndCallDone(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, path := range []string{"call-in-job", "create-and-call"} {
			b.Run(kind+"/"+path, func(b *testing.B) {
				svc := account.New(storetest.Open(b, kind), account.Config{Auth: true, Journal: filepath.Join(b.TempDir(), "calls.journal")})
				b.Cleanup(func() { svc.Close() })
				ctx := context.Background()
				tm, _ := svc.CreateTeam(ctx, "bench", 1<<40)
				key, _, _ := svc.CreateKey(ctx, tm.ID, "", account.Limits{})
				mux := http.NewServeMux()
				api.NewJobs(svc, newGateway(svc), api.Options{}).Register(mux)
				srv := httptest.NewServer(svc.Middleware(mux))
				defer srv.Close()
				url := srv.URL + "/api/jobs/create-and-call-stream"
				if path == "call-in-job" {
					job, err := svc.CreateJob(ctx, account.Identity{Admin: true}, tm.ID, "bench")
					if err != nil {
						b.Fatal(err)
					}
					url = srv.URL + "/api/jobs/" + job.ID + "/llm-call-stream"
				}
				body := `{"model":"mock/default?tokens=3","messages":[{"role":"user","content":"hi"}]}`
				var done, end []time.Duration
				call := func() (time.Duration, time.Duration) {
					req, _ := http.NewRequest("POST", url, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key)
					start := time.Now()
					res, err := http.DefaultClient.Do(req)
					if err != nil || res.StatusCode != 200 {
						b.Fatalf("%v %v", res, err)
					}
					var d time.Duration
					sc := bufio.NewScanner(res.Body)
					for sc.Scan() {
						if sc.Text() == "data: [DONE]" {
							d = time.Since(start)
						}
					}
					res.Body.Close()
					return d, time.Since(start)
				}
				for range 20 {
					call()
				}
				b.ResetTimer()
				for range b.N {
					d, e := call()
					done, end = append(done, d), append(end, e)
				}
				b.StopTimer()
				slices.Sort(done)
				slices.Sort(end)
				b.ReportMetric(float64(done[len(done)/2].Microseconds()), "p50-done-µs")
				b.ReportMetric(float64(end[len(end)/2].Microseconds()), "p50-end-µs")
			})
		}
	}
}
