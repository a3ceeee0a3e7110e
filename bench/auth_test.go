package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
)

// BenchmarkAuthCPU measures the CPU per request that auth adds, as
// `runnel serve` runs it: the same load (20-token streams from the mock,
// 10 at a time) goes straight to the mock ("direct"), through Runnel with
// no account layer at all ("none"), and through Runnel over SQLite and
// over PostgreSQL with auth off (anonymous calls, recorded in the store,
// as serve records them without --auth) and on (a key, key and team rate
// limits, the call's credit reserved before it goes upstream, its record
// charging the team), in rotating order each round. The team has credits
// (every call reserves and pays one) and no budget. A variant's CPU is
// the process CPU time of its requests plus closing its service (which
// waits for the records to be stored), less the direct run's, per
// request: so the load generator's and the mock's share cancels out, and
// the figures are the server's own (the PostgreSQL server's is not
// counted). One op is one round. RUNNEL_BENCH_AUTH=sqlite (or any other
// variant's name) runs only that variant beside the direct one, so that a
// CPU profile (-cpuprofile) is of one.
func BenchmarkAuthCPU(b *testing.B) {
	const requests, streams = 1000, 10
	type variant struct {
		name, kind string
		auth       bool
	}
	variants := []variant{{"direct", "-", false}, {"none", "", false},
		{"sqlite-off", "sqlite", false}, {"sqlite", "sqlite", true},
		{"postgres-off", "postgres", false}, {"postgres", "postgres", true}}
	if only := os.Getenv("RUNNEL_BENCH_AUTH"); only != "" {
		for _, v := range variants[1:] {
			if v.name == only {
				variants = []variant{variants[0], v}
			}
		}
		if len(variants) != 2 {
			b.Fatalf("RUNNEL_BENCH_AUTH=%s: no such variant", only)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * streams}}
	// start returns the variant's server, the key to call it with, the
	// model to ask for and what to call once the requests are done, with
	// how many were made (with auth, each must have paid its credit).
	start := func(v variant) (url, key, model string, done func(calls int)) {
		if v.kind == "-" {
			srv := httptest.NewServer(MockHandler(mock.Options{}))
			return srv.URL, "", "default?tokens=20", func(int) { srv.Close() }
		}
		r := gateway.NewStaticRouter()
		r.Register("mock", mock.New(mock.Options{}))
		var (
			acct gateway.Accountant
			svc  *account.Service
		)
		if v.kind != "" {
			svc = account.New(storetest.Open(b, v.kind), account.Config{Auth: v.auth, Journal: filepath.Join(b.TempDir(), "calls.journal")})
			acct = svc
		}
		var tm account.Team
		if v.auth {
			ctx := context.Background()
			var err error
			tm, err = svc.CreateTeam(ctx, "bench", 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			svc.SetTeamLimits(ctx, tm.ID, account.Limits{RPM: 1 << 30, TPM: 1 << 40}, 0)
			key, _, err = svc.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 1 << 30, TPM: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
		}
		mux := http.NewServeMux()
		openai.NewServer(gateway.New(gateway.Options{Router: r, Accountant: acct}), openai.Options{}).Register(mux)
		var h http.Handler = mux
		if svc != nil {
			h = svc.Middleware(mux)
		}
		srv := httptest.NewServer(h)
		return srv.URL, key, "mock/default?tokens=20", func(calls int) {
			srv.Close()
			if v.auth {
				got, err := svc.Team(context.Background(), tm.ID)
				if err != nil || got.Credits != tm.Credits-int64(calls) || got.Reserved != 0 {
					b.Errorf("%s: team after %d calls: %+v (%v); want each call charged one credit, none held", v.name, calls, got, err)
				}
			}
			if svc != nil {
				svc.Close()
			}
		}
	}
	run := func(v variant, n int) time.Duration {
		url, key, model, done := start(v)
		cfg := Config{BaseURL: url + "/v1", APIKey: key, Model: model, Prompt: "hi", Requests: n, Concurrency: streams, HTTPClient: client}
		if _, err := Run(context.Background(), cfg); err != nil { // warm
			b.Fatal(err)
		}
		cfg.Requests = requests
		t0 := cpuTime()
		res, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		done(n + requests)
		cpu := cpuTime() - t0
		if res.Failed > 0 {
			b.Fatalf("%s: %d failed: %v", v.name, res.Failed, res.Errors)
		}
		return cpu
	}
	per := make([][]float64, len(variants))
	b.ResetTimer()
	for i := range b.N {
		cpus := make([]time.Duration, len(variants))
		for k := range variants {
			j := (i + k) % len(variants)
			cpus[j] = run(variants[j], 20)
		}
		for j := 1; j < len(variants); j++ {
			per[j] = append(per[j], float64(cpus[j]-cpus[0])/float64(time.Microsecond)/requests)
		}
		msg := ""
		for j := 1; j < len(variants); j++ {
			msg += fmt.Sprintf("%s %.0f µs, ", variants[j].name, per[j][i])
		}
		b.Logf("round %d: server CPU per request: %s(direct run %.0f µs, load generator and mock)", i+1, msg, float64(cpus[0])/float64(time.Microsecond)/requests)
	}
	med := map[string]float64{}
	for j := 1; j < len(variants); j++ {
		v := append([]float64(nil), per[j]...)
		sort.Float64s(v)
		med[variants[j].name] = median(v)
		b.ReportMetric(median(v), variants[j].name+"-cpu-µs/req")
	}
	// What auth adds over auth off on the same store (the issue's
	// measure), and over no account layer at all.
	for _, k := range []string{"sqlite", "postgres"} {
		on, okOn := med[k]
		if off, ok := med[k+"-off"]; ok && okOn {
			b.ReportMetric(100*(on/off-1), k+"-over-off-%")
		}
		if none, ok := med["none"]; ok && okOn {
			b.ReportMetric(100*(on/none-1), k+"-over-none-%")
		}
	}
}
