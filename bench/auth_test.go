package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/postgres"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/sqlite"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
)

// BenchmarkAuthCPU measures the CPU per request that auth adds, as
// `runnel serve` runs it: the same load (20-token streams from an HTTP
// mock upstream, 10 at a time) goes through a Runnel hop process (the
// openai dialect and upstream, metrics) with no account layer at all
// ("none"), and over SQLite and over PostgreSQL with auth off (anonymous
// calls, recorded in the store, as serve records them without --auth) and
// on (a key, key and team rate limits, the call's credit held before it
// goes upstream, from a credit block as serve does unless
// RUNNEL_CREDIT_BLOCKS=off, its record charging the team), in rotating order each
// round. The team has credits (every call reserves and pays one) and no
// budget. Each variant is a fresh hop process (startHop), and its CPU is
// the hop's own over the timed requests (getrusage in the hop; the
// PostgreSQL server's is not counted), per request. One op is one round.
// RUNNEL_BENCH_AUTH=sqlite (or any other variant's name) runs only that
// variant, and RUNNEL_BENCH_HOP_PROFILE=DIR writes each hop's CPU profile
// to DIR/auth-VARIANT.prof, RUNNEL_BENCH_HOP_HEAP=DIR its heap profile
// (every allocation sampled; the alloc counts cover the whole process)
// to DIR/auth-VARIANT.heap. RUNNEL_BENCH_AUTH_REQUESTS sets the timed
// requests (default 1,000), and RUNNEL_BENCH_AUTH_RATE a fixed request
// rate for them (per second; default: as fast as 10 streams go).
//
// CPU time moves by a third between runs on a loaded machine; instruction
// counts do not. With each hop under callgrind (RUNNEL_BENCH_HOP_WRAP, see
// startHop) and RUNNEL_BENCH_AUTH_CALLGRIND=1, the benchmark zeroes each
// hop's counts before its timed requests and dumps them after they and the
// hop's last credit block have settled (callgrind_control), so the dump
// holds the timed requests' instructions alone; divide by the requests.
// Under callgrind a hop serves a few dozen requests a second, so work
// done once a second (a credit block's take and give-back, the key
// cache's refresh) weighs many times what it does at full speed: each
// variant's log line gives the window's length, and a run at a fixed
// lower rate (RUNNEL_BENCH_AUTH_RATE) shows how much that work weighs.
func BenchmarkAuthCPU(b *testing.B) {
	const streams = 10
	requests := 1000
	if n, err := strconv.Atoi(os.Getenv("RUNNEL_BENCH_AUTH_REQUESTS")); err == nil && n > 0 {
		requests = n
	}
	rate, _ := strconv.ParseFloat(os.Getenv("RUNNEL_BENCH_AUTH_RATE"), 64)
	// settle is the pause around a callgrind window: the warm-up's credit
	// block given back before it, the last one after it, so that the
	// window holds whole blocks. CPU time is read without it, as before:
	// its idle seconds would weigh on a few hundred fast requests.
	settle := time.Duration(0)
	mark := func(p *hopProc, op string) {}
	if os.Getenv("RUNNEL_BENCH_AUTH_CALLGRIND") != "" {
		settle = 2 * time.Second
		mark = func(p *hopProc, op string) {
			if out, err := exec.Command("callgrind_control", op, strconv.Itoa(p.cmd.Process.Pid)).CombinedOutput(); err != nil {
				b.Fatalf("callgrind_control %s: %v: %s", op, err, out)
			}
		}
	}
	variants := []string{"none", "sqlite-off", "sqlite", "postgres-off", "postgres"}
	if only := os.Getenv("RUNNEL_BENCH_AUTH"); only != "" {
		if !slices.Contains(variants, only) {
			b.Fatalf("RUNNEL_BENCH_AUTH=%s: no such variant", only)
		}
		variants = []string{only}
	}
	upstream := httptest.NewServer(MockHandler(mock.Options{Tokens: 20}))
	defer upstream.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * streams}}
	// run returns the hop's CPU time over the timed requests, their TTFT
	// (ms), how long the measured window lasted, and the hop's heap
	// allocations and collections over it.
	run := func(v string) (time.Duration, Stats, time.Duration, hopStats) {
		p := startHop(b, "auth-"+v, upstream.URL)
		defer p.stop()
		cfg := Config{BaseURL: p.URL + "/v1", APIKey: p.Key, Model: "openai/default", Prompt: "hi", Requests: 20, Concurrency: streams, HTTPClient: client}
		if _, err := Run(context.Background(), cfg); err != nil { // warm
			b.Fatal(err)
		}
		cfg.Requests, cfg.Rate, cfg.Fixed = requests, rate, rate > 0
		time.Sleep(settle)
		before := p.stats(b, false)
		mark(p, "--zero")
		start := time.Now()
		res, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(settle)
		window := time.Since(start)
		mark(p, "--dump=timed")
		after := p.stats(b, false)
		if dir := os.Getenv("RUNNEL_BENCH_HOP_HEAP"); dir != "" {
			p.saveHeap(b, filepath.Join(dir, "auth-"+v+".heap"))
		}
		if res.Failed > 0 {
			b.Fatalf("%s: %d failed: %v", v, res.Failed, res.Errors)
		}
		if p.Key != "" && after.Charged != int64(20+requests) {
			b.Fatalf("%s: %d credits charged for %d calls; want one each", v, after.Charged, 20+requests)
		}
		d := hopStats{Allocs: after.Allocs - before.Allocs, GCs: after.GCs - before.GCs}
		return time.Duration(after.CPUNanos - before.CPUNanos), res.TTFT, window, d
	}
	per := make([][]float64, len(variants))
	b.ResetTimer()
	for i := range b.N {
		ttft := make([]Stats, len(variants))
		window := make([]time.Duration, len(variants))
		heap := make([]hopStats, len(variants))
		for k := range variants {
			j := (i + k) % len(variants)
			cpu, t, w, h := run(variants[j])
			per[j], ttft[j], window[j], heap[j] = append(per[j], float64(cpu)/float64(time.Microsecond)/float64(requests)), t, w, h
		}
		msg := ""
		for j, v := range variants {
			msg += fmt.Sprintf(" %s %.0f µs (TTFT p50 %.2f, p99 %.2f ms; window %.2f s; %.1f allocs, %.3f GCs a request)", v, per[j][i], ttft[j].P50, ttft[j].P99, window[j].Seconds(),
				float64(heap[j].Allocs)/float64(requests), float64(heap[j].GCs)/float64(requests))
		}
		b.Logf("round %d: hop CPU per request:%s", i+1, msg)
	}
	med := map[string]float64{}
	for j := range variants {
		v := append([]float64(nil), per[j]...)
		sort.Float64s(v)
		med[variants[j]] = median(v)
		b.ReportMetric(median(v), variants[j]+"-cpu-µs/req")
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

// authHop is the hop process of BenchmarkAuthCPU's variant v, in front of
// upstream: the handler, the key to call it with ("" without auth), how
// many credits its team has paid so far, and what stops it.
func authHop(v, upstream string) (h http.Handler, key string, charged func() int64, stop func(), err error) {
	kind, mode, _ := strings.Cut(v, "-")
	if kind == "none" {
		return gatewayHandler(upstream), "", nil, func() {}, nil
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "runnel-authcpu-")
	if err != nil {
		return nil, "", nil, nil, err
	}
	var st *sqldb.Store
	cleanup := func() { os.RemoveAll(dir) }
	switch kind {
	case "sqlite":
		st, err = sqlite.Open(ctx, dir)
	case "postgres":
		schema := storetest.Schema()
		st, err = postgres.Open(ctx, storetest.PostgresURL(), schema)
		cleanup = func() {
			postgres.DropSchema(context.Background(), storetest.PostgresURL(), schema)
			os.RemoveAll(dir)
		}
	default:
		err = fmt.Errorf("unknown store %q", kind)
	}
	if err != nil {
		cleanup()
		return nil, "", nil, nil, err
	}
	svc := account.New(st, account.Config{Auth: mode != "off", CreditBlocks: os.Getenv("RUNNEL_CREDIT_BLOCKS") != "off", Journal: filepath.Join(dir, "calls.journal"), Logger: slog.New(slog.DiscardHandler)})
	closeAll := func() { svc.Close(); cleanup() }
	h = svc.Middleware(gatewayHandler(upstream, func(g *gateway.Options, _ *openai.Options) { g.Accountant = svc }))
	if mode == "off" {
		return h, "", nil, closeAll, nil
	}
	const credits = 1 << 40
	tm, err := svc.CreateTeam(ctx, "bench", credits)
	if err == nil {
		_, err = svc.SetTeamLimits(ctx, tm.ID, account.Limits{RPM: 1 << 30, TPM: 1 << 40}, 0)
	}
	if err == nil {
		key, _, err = svc.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 1 << 30, TPM: 1 << 40})
	}
	if err != nil {
		closeAll()
		return nil, "", nil, nil, err
	}
	charged = func() int64 {
		// Nothing may stay held once the calls are recorded, but for
		// an open credit block's unused part, given back within ten
		// seconds with nobody waiting for it, and a look (and its
		// give-back's write under callgrind) later (account/blocks.go).
		for range 200 {
			t, err := svc.Team(context.Background(), tm.ID)
			if err != nil {
				return -1
			}
			if t.Reserved == 0 {
				return credits - t.Credits
			}
			time.Sleep(100 * time.Millisecond)
		}
		return -1
	}
	return h, key, charged, closeAll, nil
}
