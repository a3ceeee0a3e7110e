package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/server/metrics"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// gatewayHandler is what `runnel serve` runs in front of an
// OpenAI-compatible upstream: the server's middleware, the openai dialect,
// the gateway with its controls, metering and metrics, and the openai
// upstream provider. The gateway's and the dialect's options may be changed
// by opts.
func gatewayHandler(upstreamURL string, opts ...func(*gateway.Options, *openai.Options)) http.Handler {
	return gatewayOver(upstreamURL, nil, opts...)
}

// gatewayOver is gatewayHandler reaching the upstream through client (the
// provider's default when nil).
func gatewayOver(upstreamURL string, client *http.Client, opts ...func(*gateway.Options, *openai.Options)) http.Handler {
	router := gateway.NewStaticRouter()
	router.Register("openai", openai.NewProvider(openai.Config{BaseURL: upstreamURL + "/v1", HTTPClient: client}))
	gwo, oo := gateway.Options{Router: router, Observer: metrics.New()}, openai.Options{}
	for _, f := range opts {
		f(&gwo, &oo)
	}
	gw := gateway.New(gwo)
	return server.New(server.Options{
		Dialects: []server.Dialect{openai.NewServer(gw, oo)},
		Logger:   slog.New(slog.DiscardHandler),
	})
}

// gatewayAnthropicHandler is gatewayHandler for Anthropic's API on both
// sides: the anthropic dialect over the anthropic upstream provider, with
// the upstream client `runnel serve` gives it.
func gatewayAnthropicHandler(upstreamURL string) http.Handler {
	return gatewayAnthropicOver(upstreamURL, config.UpstreamClient())
}

// gatewayAnthropicOver is gatewayAnthropicHandler reaching the upstream
// through client.
func gatewayAnthropicOver(upstreamURL string, client *http.Client, opts ...func(*gateway.Options)) http.Handler {
	router := gateway.NewStaticRouter()
	router.Register("anthropic", anthropic.NewProvider(anthropic.Config{BaseURL: upstreamURL, HTTPClient: client}))
	gwo := gateway.Options{Router: router, Observer: metrics.New()}
	for _, f := range opts {
		f(&gwo)
	}
	gw := gateway.New(gwo)
	return server.New(server.Options{
		Dialects: []server.Dialect{anthropic.NewServer(gw, anthropic.Options{})},
		Logger:   slog.New(slog.DiscardHandler),
	})
}

// gatewayDialectsHandler is gatewayHandler with every dialect `runnel
// serve` mounts (server.Dialects) in front of the one OpenAI upstream.
func gatewayDialectsHandler(upstreamURL string) http.Handler {
	router := gateway.NewStaticRouter()
	router.Register("openai", openai.NewProvider(openai.Config{BaseURL: upstreamURL + "/v1"}))
	gw := gateway.New(gateway.Options{Router: router, Observer: metrics.New()})
	return server.New(server.Options{
		Dialects: server.Dialects(gw, server.DialectOptions{}),
		Logger:   slog.New(slog.DiscardHandler),
	})
}

func gatewayServer(tb testing.TB, upstreamURL string, opts ...func(*gateway.Options, *openai.Options)) *httptest.Server {
	srv := httptest.NewServer(gatewayHandler(upstreamURL, opts...))
	tb.Cleanup(srv.Close)
	return srv
}

// proxyHandler is the reference hop, the floor of any Go HTTP hop: a bare
// net/http/httputil ReverseProxy, flushing every write, in front of the
// same upstream. Full duplex, since without it Go's server closes the
// unread request body at the first response write and the proxy loses
// streams.
func proxyHandler(upstreamURL string) http.Handler {
	return proxyOver(upstreamURL, &http.Transport{MaxIdleConnsPerHost: 1024})
}

// proxyOver is proxyHandler reaching the upstream through t.
func proxyOver(upstreamURL string, t http.RoundTripper) http.Handler {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		panic(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.Transport = t
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}

// TestGatewayFlushesEachToken shows the gateway never buffers: the upstream
// sends token i+1 only after the client, reading through the gateway, has
// received token i as its own SSE event.
func TestGatewayFlushesEachToken(t *testing.T) {
	const tokens = 20
	seen := make(chan int) // client → upstream: token i arrived
	upstream := lockstepUpstream("openai", tokens, func(ctx context.Context, i int) bool {
		select {
		case got := <-seen:
			if got != i {
				t.Errorf("client saw token %d while upstream sent %d", got, i)
			}
			return true
		case <-ctx.Done():
			return false
		}
	})
	defer upstream.Close()
	gw := gatewayServer(t, upstream.URL)

	// Guards against a deadlock (a buffering gateway) hanging the test; it
	// is not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp := postChat(t, ctx, gw.URL, "openai/up")
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	var contents []string
	for {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("after %d tokens: %v", len(contents), err)
		}
		if ev.Data == "[DONE]" {
			break
		}
		if text, ok := deltaText(ev.Data); ok {
			contents = append(contents, text)
			// Each event holds exactly the token the upstream sent last.
			if want := fmt.Sprintf("t%d ", len(contents)-1); text != want {
				t.Fatalf("event %d content %q, want %q", len(contents)-1, text, want)
			}
			select {
			case seen <- len(contents) - 1:
			case <-ctx.Done():
				t.Fatal("upstream stopped waiting")
			}
		}
	}
	if len(contents) != tokens {
		t.Errorf("client saw %d content events, upstream sent %d tokens", len(contents), tokens)
	}
}

// BenchmarkGatewayOverhead measures what a hop adds to a stream, against
// its floor: the same load generator (bench.Run, what `runnel bench` runs)
// reads the mock upstream directly, through a bare full-duplex
// httputil.ReverseProxy, and through Runnel (what `runnel serve` runs in
// front of an upstream), in the same run. The load generator and the mock
// are this process; each hop is a process of its own (startHop). One op is
// one round of the three, in an order that changes every round
// (roundOrder: D P R, P D R, R D P, D R P, …), so drift on a shared
// machine falls on all three; run with -benchtime 6x (3x at least). Streams are 50 tokens 20 ms apart, arriving
// at a fixed rate that keeps c streams open (one at a time, and 2 ms
// apart, for c=1).
//
// Reported for the proxy and Runnel, as medians over the rounds (the log
// has every round, and the ranges): added TTFT p50 and p99 and ITL p99
// against the direct run of the same round, the hop's CPU per token (its
// process's CPU time during the run, per output token), and the streams
// that failed or whose text differs from the direct run's. Each run also
// logs, per token for each hop, its process's user and system CPU,
// context switches, wake-ups, page faults, goroutines started a call and
// collections (perToken), and each round Runnel's over the proxy's
// (hopRatios); RUNNEL_BENCH_HOP_SYSCALLS=1 adds each hop's system calls
// by kind (perf stat, which slows them: their CPU figures then mean
// nothing), and a RUNNEL_BENCH_HOP_WRAP of callgrind has each counted
// run's instructions dumped to a file of its own.
//
// RUNNEL_BENCH_CONTROL=1 adds a fourth hop to every round, "control": a
// second bare proxy, a process of its own, measured exactly as the proxy
// is. Identical to the proxy, it scores against it only what the machine's
// noise gives, so its figures are the floor under every comparison of a
// round (runVerdict logs both against the proxy, round by round and
// pooled over the run). Run it with -benchtime 4x or more, so that each
// hop takes each place in the order. RUNNEL_BENCH_CONTROL=runnel=PATH
// makes the fourth hop "base" instead: Runnel served by another tree's
// bench test binary at PATH (go test -c ./bench/ there), logged against
// the proxy and with Runnel against it, a same-run A/B of two trees.
func BenchmarkGatewayOverhead(b *testing.B) { overheads(b, "openai") }

// BenchmarkGatewayOverheadAnthropic is BenchmarkGatewayOverhead with
// Anthropic's Messages API on every side: the mock upstream, the load
// generator, and Runnel's anthropic dialect over its anthropic provider.
func BenchmarkGatewayOverheadAnthropic(b *testing.B) { overheads(b, "anthropic") }

// overheads runs overhead at c=1, 100 and 500 for api.
func overheads(b *testing.B, api string) {
	for _, c := range []struct {
		streams, requests int
		itl               time.Duration
	}{
		{1, 100, 2 * time.Millisecond},
		{100, 300, 20 * time.Millisecond},
		{500, 1500, 20 * time.Millisecond},
	} {
		b.Run(fmt.Sprintf("c=%d", c.streams), func(b *testing.B) {
			overhead(b, api, c.streams, c.requests, 50, c.itl)
		})
	}
}

// hop is one way from the load generator to the mock upstream.
type hop struct {
	name, url, model string
}

// hopRound is one hop's figures in one round, against that round's direct
// run.
type hopRound struct {
	ttftP50, ttftP99, itlP99 float64 // added TTFT (ms), ITL p99 (ms)
	cpuPerToken              float64 // µs, the hop's own
	bad                      int     // failed streams, and streams whose text differs from direct
	cpu                      time.Duration
	tokens                   int
}

func overhead(b *testing.B, api string, streams, requests, tokens int, itl time.Duration) {
	mockH, runnel, prefix, v1 := MockHandler(mock.Options{Tokens: tokens, ITL: itl}), "runnel", "openai/", "/v1"
	if api == "anthropic" {
		mockH, runnel, prefix, v1 = MockAnthropicHandler(mock.Options{Tokens: tokens, ITL: itl}), "runnel-anthropic", "anthropic/", ""
	}
	upstream := httptest.NewServer(mockH)
	defer upstream.Close()
	procs := []*hopProc{nil, startHop(b, "proxy", upstream.URL), startHop(b, runnel, upstream.URL)}
	hops := []hop{
		{"direct", upstream.URL, "default"},
		{"proxy", procs[1].URL, "default"},
		{"runnel", procs[2].URL, prefix + "default"},
	}
	if c := os.Getenv("RUNNEL_BENCH_CONTROL"); c != "" {
		if exe, ok := strings.CutPrefix(c, "runnel="); ok {
			// A base tree's Runnel, from its own test binary: a same-run
			// A/B of two trees, each also against the proxy.
			procs = append(procs, startHopFrom(b, exe, runnel, upstream.URL))
			hops = append(hops, hop{"base", procs[3].URL, prefix + "default"})
		} else {
			procs = append(procs, startHop(b, "proxy", upstream.URL))
			hops = append(hops, hop{"control", procs[3].URL, "default"})
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * streams, MaxIdleConns: 0}}
	// RUNNEL_BENCH_HOP_SYSCALLS=1 counts each hop's system calls by kind
	// in every counted run (perf stat on the hop's process), and logs
	// them per token.
	traceSyscalls, counted := os.Getenv("RUNNEL_BENCH_HOP_SYSCALLS") != "", false
	// run returns the run's result and the CPU time the hop's process
	// spent on it (for direct: this process's, the load generator's and
	// the mock's).
	run := func(h hop, p *hopProc) (*Result, time.Duration, [2]hopStats) {
		cfg := Config{
			BaseURL: h.url + v1, Model: h.model, Prompt: "Tell me a story.",
			Requests: requests, Concurrency: streams, HTTPClient: client, API: api,
		}
		if streams > 1 {
			cfg.Rate, cfg.Fixed = float64(streams)/(time.Duration(tokens)*itl).Seconds(), true
		}
		var s0 hopStats
		stopTrace := func() map[string]int64 { return nil }
		if p != nil {
			if traceSyscalls && counted {
				stopTrace = p.traceSyscalls(b)
			}
			s0 = p.stats(b, false)
			if counted {
				p.callgrind(b, "-z")
			}
		}
		t0 := cpuTime()
		res, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if p == nil {
			return res, cpuTime() - t0, [2]hopStats{}
		}
		if counted {
			p.callgrind(b, "-d")
		}
		s1 := p.stats(b, false)
		counts := stopTrace()
		tokens := float64(max(res.TotalOutputTokens, 1))
		b.Logf("%s: %.2f read and %.2f write system calls per token", h.name, float64(s1.Reads-s0.Reads)/tokens, float64(s1.Writes-s0.Writes)/tokens)
		b.Logf("%s: %s", h.name, perToken(s0, s1, res.TotalOutputTokens, len(res.Requests)))
		if counts != nil {
			b.Logf("%s: system calls %s", h.name, syscallMix(counts, res.TotalOutputTokens))
		}
		return res, time.Duration(s1.CPUNanos - s0.CPUNanos), [2]hopStats{s0, s1}
	}
	for j, h := range hops { // warm the connection pools
		run(h, procs[j])
	}
	counted = true

	var rounds [][]hopRound                // per round: proxy, runnel[, control]
	pooled := make([][]Request, len(hops)) // every round's requests, by hop
	b.ResetTimer()
	for i := range b.N {
		res := make([]*Result, len(hops))
		cpus := make([]time.Duration, len(hops))
		stats := make([][2]hopStats, len(hops))
		for _, j := range roundOrder(i, len(hops)) {
			res[j], cpus[j], stats[j] = run(hops[j], procs[j])
		}
		d := res[0]
		want := d.Requests[0].Digest
		var r []hopRound
		for j := 1; j < len(hops); j++ {
			h := res[j]
			bad := h.Failed
			for _, q := range h.Requests {
				if q.Err == "" && (q.Digest != want || q.Chunks != tokens) {
					bad++
				}
			}
			r = append(r, hopRound{
				ttftP50: h.TTFT.P50 - d.TTFT.P50, ttftP99: h.TTFT.P99 - d.TTFT.P99, itlP99: h.ITL.P99,
				cpuPerToken: float64(cpus[j]) / float64(time.Microsecond) / float64(max(h.TotalOutputTokens, 1)),
				bad:         bad, cpu: cpus[j], tokens: h.TotalOutputTokens,
			})
			for _, e := range h.Errors {
				b.Logf("%s error: %s", hops[j].name, e)
			}
		}
		b.Logf("round %d: direct TTFT p50 %.2f p99 %.2f ms, ITL p99 %.2f ms, %d failed", i+1, d.TTFT.P50, d.TTFT.P99, d.ITL.P99, d.Failed)
		for j, x := range r {
			b.Logf("round %d: %-6s added TTFT p50 %+.2f p99 %+.2f ms, ITL p99 %.2f ms, CPU %.1f µs/token, %d bad streams",
				i+1, hops[j+1].name, x.ttftP50, x.ttftP99, x.itlP99, x.cpuPerToken, x.bad)
		}
		b.Logf("round %d: runnel ÷ proxy per token: %s", i+1, hopRatios(stats[1], stats[2], res[1].TotalOutputTokens, res[2].TotalOutputTokens))
		if len(hops) > 3 {
			b.Logf("round %d: %s ÷ proxy per token: %s", i+1, hops[3].name, hopRatios(stats[1], stats[3], res[1].TotalOutputTokens, res[3].TotalOutputTokens))
		}
		rounds = append(rounds, r)
		for j := range hops {
			pooled[j] = append(pooled[j], res[j].Requests...)
		}
	}
	b.StopTimer()

	whole := make([]*Result, len(hops)) // the run's requests as one
	for j := range hops {
		whole[j] = summarise(Config{}, pooled[j], 0)
	}
	for k := 2; k < len(hops); k++ {
		v := runVerdict(rounds, whole, k-1)
		v.name = hops[k].name
		b.Logf("%s", v)
		b.ReportMetric(v.cpu, hops[k].name+"÷proxy-cpu/token")
	}
	if len(hops) > 3 && hops[3].name == "base" {
		v := runVerdictAgainst(rounds, whole, 2, 1)
		v.name, v.ref = "runnel", "base"
		b.Logf("%s", v)
		b.ReportMetric(v.cpu, "runnel÷base-cpu/token")
	}

	for j := range hops[1:] {
		name := hops[j+1].name
		pick := func(f func(hopRound) float64) []float64 {
			v := make([]float64, len(rounds))
			for i := range rounds {
				v[i] = f(rounds[i][j])
			}
			return v
		}
		report := func(v []float64, unit string, scale float64) {
			sort.Float64s(v)
			b.ReportMetric(median(v)*scale, name+"-"+unit)
		}
		ttft50 := pick(func(r hopRound) float64 { return r.ttftP50 })
		ttft99 := pick(func(r hopRound) float64 { return r.ttftP99 })
		itl99 := pick(func(r hopRound) float64 { return r.itlP99 })
		cpuTok := pick(func(r hopRound) float64 { return r.cpuPerToken })
		bad := pick(func(r hopRound) float64 { return float64(r.bad) })
		report(ttft50, "added-ttft-p50-µs", 1000)
		report(ttft99, "added-ttft-p99-µs", 1000)
		report(itl99, "itl-p99-ms", 1)
		report(cpuTok, "cpu-µs/token", 1)
		b.ReportMetric(sum(bad), name+"-bad-streams")
		b.Logf("%s over %d rounds: added TTFT p50 %.2f…%.2f p99 %.2f…%.2f ms, ITL p99 %.2f…%.2f ms, CPU %.1f…%.1f µs/token",
			name, len(rounds), ttft50[0], ttft50[len(ttft50)-1], ttft99[0], ttft99[len(ttft99)-1],
			itl99[0], itl99[len(itl99)-1], cpuTok[0], cpuTok[len(cpuTok)-1])
	}
	// The load of the shared machine: the latency figures are queueing
	// when it is well above its 2 cores.
	b.ReportMetric(loadAverage(), "load-average")
}

// roundOrder is the order of round i's n hops: round i starts with hop
// i mod n and goes on forwards (i even) or backwards (i odd), wrapping.
// Over n rounds (n even; 2n for n odd) each hop takes each place equally
// often, and no hop always runs right after the same one: after direct,
// say, whose CPU is the load generator's and the mock's in this process,
// a hop would inherit its leftovers in the caches round after round.
func roundOrder(i, n int) []int {
	order := make([]int, n)
	step := 1
	if i%2 == 1 {
		step = n - 1
	}
	for k := range order {
		order[k] = (i + k*step) % n
	}
	return order
}

// loadAverage is the machine's one-minute load average.
func loadAverage() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// BenchmarkOpenStreams holds 2,000 streams open (each has sent one token,
// then its upstream waits) through the bare proxy and through Runnel, each
// a fresh process per round, and reports each hop's memory per open
// stream: resident set size, and live heap plus goroutine stacks, with the
// streams open minus before (after one warm-up stream), divided by 2,000.
// One op is one round of both, alternating which goes first.
// RUNNEL_BENCH_HOP_HEAP=DIR also saves each hop's heap profile, every
// allocation sampled, before and with the streams open, to
// DIR/KIND-{before,with}.heap (compare with `go tool pprof -base`).
// RUNNEL_BENCH_PROMPT_BYTES=N makes each stream's prompt N bytes long
// ("hi" otherwise). RUNNEL_BENCH_OPEN_BASE=PATH adds a third hop to every
// round, "base": Runnel served by another tree's bench test binary at PATH
// (go test -c ./bench/ there), so that each round has the proxy, this
// tree and the base, and both trees' RSS over the proxy's are logged
// round by round: a same-run A/B (run -benchtime 3x or more, so that each
// takes each place in the order).
func BenchmarkOpenStreams(b *testing.B) {
	heapDir := os.Getenv("RUNNEL_BENCH_HOP_HEAP")
	prompt := "hi"
	if n, err := strconv.Atoi(os.Getenv("RUNNEL_BENCH_PROMPT_BYTES")); err == nil && n > 0 {
		prompt = strings.Repeat("x", n)
	}
	const n = 2000
	api, mockH := "openai", MockHandler(mock.Options{Tokens: 50, ITL: 20 * time.Millisecond})
	// exe is the test binary that serves the hop ("" for this one); hop is
	// the kind it serves.
	type kind struct{ name, hop, model, exe string }
	kinds := []kind{{"proxy", "proxy", "default?hang_after=1", ""}, {"runnel", "runnel", "openai/default?hang_after=1", ""}}
	// RUNNEL_BENCH_OPEN_API=anthropic: the Anthropic hop, both sides.
	if os.Getenv("RUNNEL_BENCH_OPEN_API") == "anthropic" {
		api, mockH = "anthropic", MockAnthropicHandler(mock.Options{Tokens: 50, ITL: 20 * time.Millisecond})
		kinds[1] = kind{"runnel-anthropic", "runnel-anthropic", "anthropic/default?hang_after=1", ""}
	}
	if exe := os.Getenv("RUNNEL_BENCH_OPEN_BASE"); exe != "" {
		kinds = append(kinds, kind{"base", kinds[1].hop, kinds[1].model, exe})
	}
	upstream := httptest.NewServer(mockH)
	defer upstream.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxIdleConns: 0}}
	rssPer, livePer := make([][]float64, len(kinds)), make([][]float64, len(kinds))
	for i := range b.N {
		for k := range kinds {
			j := (i + k) % len(kinds)
			exe := kinds[j].exe
			if exe == "" {
				var err error
				if exe, err = os.Executable(); err != nil {
					b.Fatal(err)
				}
			}
			p := startHopFrom(b, exe, kinds[j].hop, upstream.URL)
			open(b, api, 1, hop{kinds[j].name, p.URL, kinds[j].model}, client, prompt)()
			before := p.stats(b, true)
			if heapDir != "" {
				p.saveHeap(b, filepath.Join(heapDir, kinds[j].name+"-before.heap"))
			}
			t0 := time.Now()
			closeAll := open(b, api, n, hop{kinds[j].name, p.URL, kinds[j].model}, client, prompt)
			opened := time.Since(t0)
			with := p.stats(b, true)
			if heapDir != "" {
				p.saveHeap(b, filepath.Join(heapDir, kinds[j].name+"-with.heap"))
			}
			closeAll()
			p.stop()
			rssPer[j] = append(rssPer[j], float64(with.RSS-before.RSS)/n)
			livePer[j] = append(livePer[j], (float64(with.LiveBytes)-float64(before.LiveBytes))/n)
			b.Logf("round %d: %-6s per open stream: RSS %.1f KiB, heap+stacks %.1f KiB, of which stacks %.1f KiB (%d goroutines with %d streams); allocated %.1f KiB (%d collections)",
				i+1, kinds[j].name, rssPer[j][i]/1024, livePer[j][i]/1024, (float64(with.Stacks)-float64(before.Stacks))/n/1024, with.Goroutine, n,
				float64(with.AllocBytes-before.AllocBytes)/n/1024, with.GCs-before.GCs-2) // but before's two
			perStream := func(w, b uint64) float64 { return (float64(w) - float64(b)) / n / 1024 }
			b.Logf("round %d: %-6s every stream's first token after %v", i+1, kinds[j].name, opened.Round(time.Millisecond))
			b.Logf("round %d: %-6s heap spans in use %.1f KiB, free but resident %.1f KiB; stack memory obtained %.1f KiB (a stream); new goroutines' stacks %d then %d B",
				i+1, kinds[j].name, perStream(with.HeapInuse, before.HeapInuse), perStream(with.HeapIdle, before.HeapIdle), perStream(with.StackSys, before.StackSys), before.StartStack, with.StartStack)
		}
		if len(kinds) > 2 {
			b.Logf("round %d: RSS over the proxy's: %s %.3f, base %.3f; %s over base %.3f",
				i+1, kinds[1].name, rssPer[1][i]/rssPer[0][i], rssPer[2][i]/rssPer[0][i], kinds[1].name, rssPer[1][i]/rssPer[2][i])
		}
	}
	for j, k := range kinds {
		for _, m := range []struct {
			v    []float64
			unit string
		}{{rssPer[j], "rss-KiB/stream"}, {livePer[j], "heap-KiB/stream"}} {
			v := append([]float64(nil), m.v...)
			sort.Float64s(v)
			b.ReportMetric(median(v)/1024, k.name+"-"+m.unit)
		}
		if j > 0 {
			r := make([]float64, len(rssPer[j]))
			for i := range r {
				r[i] = rssPer[j][i] / rssPer[0][i]
			}
			sort.Float64s(r)
			b.ReportMetric(median(r), k.name+"-rss/proxy")
		}
	}
}

// open opens n streams through h, each with prompt as its message, in
// api's dialect ("openai" or "anthropic"), and waits for each one's first
// token; it returns what closes them.
func open(b testing.TB, api string, n int, h hop, client *http.Client, prompt string) (closeAll func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var p stream.Provider = openai.NewProvider(openai.Config{BaseURL: h.url + "/v1", HTTPClient: client})
	if api == "anthropic" {
		p = anthropic.NewProvider(anthropic.Config{BaseURL: h.url, HTTPClient: client})
	}
	streams := make([]stream.Stream, n)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.Stream(ctx, &stream.Request{Model: h.model, Messages: []stream.Message{{Role: "user", Content: prompt}}})
			if err != nil {
				b.Error(err)
				return
			}
			if ev, err := s.Recv(); err != nil || ev.Kind != stream.KindDelta {
				b.Error("first event:", ev, err)
			}
			streams[i] = s
		}()
	}
	wg.Wait()
	return func() {
		for _, s := range streams {
			if s != nil {
				s.Close()
			}
		}
		cancel()
	}
}

// liveMemory is the live heap after a collection plus the goroutine stacks
// in use, in bytes.
func liveMemory() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc + m.StackInuse)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGatewayUpstreamFaults drives faulty upstreams through the whole
// gateway: a client that goes away cancels the upstream request, and an
// upstream that sends garbage or stops mid-stream becomes an error event
// with a clear message, then [DONE].
func TestGatewayUpstreamFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // deadlock guard only
	defer cancel()
	cancelled := make(chan struct{})
	token := `data: {"choices":[{"index":0,"delta":{"content":"one"},"finish_reason":null}]}` + "\n\n"
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, token)
		w.(http.Flusher).Flush()
		switch {
		case strings.HasPrefix(r.URL.Path, "/garbage/"):
			io.WriteString(w, "data: {not json\n\n")
		case strings.HasPrefix(r.URL.Path, "/truncate/"):
			io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"cont`)
		default:
			<-r.Context().Done()
			close(cancelled)
		}
	}))
	defer upstream.Close()

	for _, tc := range []struct{ query, want string }{
		{"garbage", "upstream sent an invalid chunk: {not json"},
		{"truncate", "provider openai: the upstream closed the stream before it finished"},
		{"hang", ""},
	} {
		t.Run(tc.query, func(t *testing.T) {
			router := gateway.NewStaticRouter()
			router.Register("openai", openai.NewProvider(openai.Config{BaseURL: upstream.URL + "/" + tc.query + "/v1"}))
			mux := http.NewServeMux()
			openai.NewServer(gateway.New(gateway.Options{Router: router}), openai.Options{}).Register(mux)
			gw := httptest.NewServer(mux)
			defer gw.Close()

			body := `{"model":"openai/up","messages":[{"role":"user","content":"hi"}],"stream":true}`
			req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL+"/v1/chat/completions", strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r := sse.NewReader(resp.Body)
			first, err := r.Next()
			if err != nil || !strings.Contains(first.Data, `"content":"one"`) {
				t.Fatalf("first event %q, %v", first.Data, err)
			}
			if tc.want == "" {
				// The client goes away mid-stream: the upstream request
				// must be cancelled.
				resp.Body.Close()
				select {
				case <-cancelled:
				case <-ctx.Done():
					t.Fatal("the upstream request was not cancelled")
				}
				return
			}
			var datas []string
			for {
				ev, err := r.Next()
				if err != nil {
					break
				}
				datas = append(datas, ev.Data)
			}
			want := []string{`{"error":{"message":"` + strings.ReplaceAll(tc.want, `"`, `\"`) + `","type":"api_error","param":null,"code":"upstream_error"}}`, "[DONE]"}
			if strings.Join(datas, "\n") != strings.Join(want, "\n") {
				t.Errorf("events after the first:\n%q\nwant:\n%q", datas, want)
			}
		})
	}
}

// TestGatewayUpstreamNeverAnswers: an upstream that accepts the request and
// never answers becomes a 504 in OpenAI's error shape once the first-token
// timeout fires, and the upstream request is cancelled.
func TestGatewayUpstreamNeverAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // deadlock guard only
	defer cancel()
	cancelled := make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices the client leave
		<-r.Context().Done()
		cancelled <- struct{}{}
	}))
	defer upstream.Close()
	router := gateway.NewStaticRouter()
	router.Register("openai", openai.NewProvider(openai.Config{BaseURL: upstream.URL + "/v1"}))
	mux := http.NewServeMux()
	gw := gateway.New(gateway.Options{Router: router, Timeouts: stream.Timeouts{FirstToken: 50 * time.Millisecond}})
	openai.NewServer(gw, openai.Options{}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"openai/up","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"error":{"message":"first-token timeout: no token within 50ms","type":"server_error","param":null,"code":"timeout"}}` + "\n"
	if resp.StatusCode != http.StatusGatewayTimeout || string(b) != want {
		t.Errorf("%d %s, want 504 %s", resp.StatusCode, b, want)
	}
	select {
	case <-cancelled:
	case <-ctx.Done():
		t.Fatal("the upstream request was not cancelled")
	}
}
