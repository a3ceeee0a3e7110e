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

// BenchmarkAuthCPU measures the CPU per request that the account layer
// adds, as `runnel serve` runs it (auth by key, key and team rate limits,
// credits, the call journaled and stored by background writers): the same
// load (20-token streams from the mock, 10 at a time) goes straight to the
// mock, through Runnel with auth off, and through Runnel with auth on over
// SQLite and over PostgreSQL, in rotating order each round. A variant's
// CPU is the process CPU time of its requests plus closing its service
// (which waits for the records to be stored), less the direct run's, per
// request: so the load generator's and the mock's share cancels out, and
// the figures are the server's own. One op is one round.
// RUNNEL_BENCH_AUTH=sqlite (or postgres, off) runs only that variant
// beside the direct one, so that a CPU profile (-cpuprofile) is of one.
func BenchmarkAuthCPU(b *testing.B) {
	const requests, streams = 1000, 10
	type variant struct{ name, kind string }
	variants := []variant{{"direct", "-"}, {"off", ""}, {"sqlite", "sqlite"}, {"postgres", "postgres"}}
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
	// model to ask for and what to call once the requests are done.
	start := func(v variant) (url, key, model string, done func()) {
		if v.kind == "-" {
			srv := httptest.NewServer(MockHandler(mock.Options{}))
			return srv.URL, "", "default?tokens=20", srv.Close
		}
		r := gateway.NewStaticRouter()
		r.Register("mock", mock.New(mock.Options{}))
		var (
			acct gateway.Accountant
			svc  *account.Service
		)
		if v.kind != "" {
			svc = account.New(storetest.Open(b, v.kind), account.Config{Auth: true, Journal: filepath.Join(b.TempDir(), "calls.journal")})
			ctx := context.Background()
			tm, err := svc.CreateTeam(ctx, "bench", 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			svc.SetTeamLimits(ctx, tm.ID, account.Limits{RPM: 1 << 30, TPM: 1 << 40}, 0)
			key, _, err = svc.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 1 << 30, TPM: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			acct = svc
		}
		mux := http.NewServeMux()
		openai.NewServer(gateway.New(gateway.Options{Router: r, Accountant: acct}), openai.Options{}).Register(mux)
		var h http.Handler = mux
		if svc != nil {
			h = svc.Middleware(mux)
		}
		srv := httptest.NewServer(h)
		return srv.URL, key, "mock/default?tokens=20", func() {
			srv.Close()
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
		done()
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
	med := make([]float64, len(variants))
	for j := 1; j < len(variants); j++ {
		v := append([]float64(nil), per[j]...)
		sort.Float64s(v)
		med[j] = median(v)
		b.ReportMetric(med[j], variants[j].name+"-cpu-µs/req")
	}
	if len(variants) == 4 {
		b.ReportMetric(100*(med[2]/med[1]-1), "sqlite-added-%")
		b.ReportMetric(100*(med[3]/med[1]-1), "postgres-added-%")
	}
}
