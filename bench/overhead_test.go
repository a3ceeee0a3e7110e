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
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/server/metrics"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// gatewayServer is what `runnel serve` runs in front of an OpenAI-compatible
// upstream: the server's middleware, the openai dialect, the gateway with its
// controls, metering and metrics, and the openai upstream provider.
func gatewayServer(tb testing.TB, upstreamURL string) *httptest.Server {
	tb.Helper()
	router := gateway.NewStaticRouter()
	router.Register("openai", openai.NewProvider(openai.Config{BaseURL: upstreamURL + "/v1"}))
	gw := gateway.New(gateway.Options{Router: router, Observer: metrics.New()})
	h := server.New(server.Options{
		Dialects: []server.Dialect{openai.NewServer(gw, openai.Options{})},
		Logger:   slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// proxyServer is the reference hop: net/http/httputil's ReverseProxy,
// flushing every write, in front of the same upstream.
func proxyServer(tb testing.TB, upstreamURL string) *httptest.Server {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024}
	srv := httptest.NewServer(rp)
	tb.Cleanup(srv.Close)
	return srv
}

// TestGatewayFlushesEachToken shows the gateway never buffers: the upstream
// sends token i+1 only after the client, reading through the gateway, has
// received token i as its own SSE event.
func TestGatewayFlushesEachToken(t *testing.T) {
	const tokens = 20
	seen := make(chan int) // client → upstream: token i arrived
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range tokens {
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t%d \"},\"finish_reason\":null}]}\n\n", i)
			rc.Flush()
			select {
			case got := <-seen:
				if got != i {
					t.Errorf("client saw token %d while upstream sent %d", got, i)
				}
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":20,\"total_tokens\":21}}\n\ndata: [DONE]\n\n")
	}))
	defer upstream.Close()
	gw := gatewayServer(t, upstream.URL)

	// Guards against a deadlock (a buffering gateway) hanging the test; it
	// is not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body := `{"model":"openai/up","messages":[{"role":"user","content":"hi"}],"stream":true}`
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL+"/v1/chat/completions", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
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
		if i := strings.Index(ev.Data, `"content":"`); i >= 0 {
			text := ev.Data[i+len(`"content":"`):]
			text = text[:strings.IndexByte(text, '"')]
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

// BenchmarkGatewayOverhead measures what the gateway adds to a stream, at
// 500 concurrent streams over loopback: the same load generator reads the
// mock upstream directly and through the gateway, in the same run, and the
// differences of the percentiles are reported. Each stream is 20 tokens
// 50 ms apart (about 1 s); streams start at a steady 500 per second, so
// about 500 are always in flight. One op is one pair of runs of 3×500
// requests each. It also reports the gateway's heap per open stream.
func BenchmarkGatewayOverhead(b *testing.B) {
	overhead(b, 500, 1500, 20, 50*time.Millisecond, true)
}

// BenchmarkGatewayOverheadLight is 500 concurrent streams at a lower token
// rate (10 tokens 200 ms apart, 2,500 tokens/s in all), so that the machine
// is not saturated and the differences show the gateway's own latency
// rather than CPU queueing.
func BenchmarkGatewayOverheadLight(b *testing.B) {
	overhead(b, 500, 1000, 10, 200*time.Millisecond, false)
}

// BenchmarkGatewayOverheadSerial is the same with one stream at a time: the
// cost of the extra hop without contention.
func BenchmarkGatewayOverheadSerial(b *testing.B) {
	overhead(b, 1, 200, 20, 2*time.Millisecond, false)
}

func overhead(b *testing.B, streams, requests, tokens int, itl time.Duration, heap bool) {
	upstream := httptest.NewServer(MockHandler(mock.Options{Tokens: tokens, ITL: itl}))
	defer upstream.Close()
	gw := gatewayServer(b, upstream.URL)
	proxy := proxyServer(b, upstream.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * streams, MaxIdleConns: 0}}

	run := func(base, model string) *Result {
		cfg := Config{
			BaseURL: base + "/v1", Model: model, Prompt: "Tell me a story.",
			Requests: requests, Concurrency: streams, HTTPClient: client,
		}
		if streams > 1 {
			cfg.Rate, cfg.Fixed = float64(streams)/(time.Duration(tokens)*itl).Seconds(), true
		}
		res, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	// Warm both paths' connection pools.
	run(upstream.URL, "default")
	run(gw.URL, "openai/default")

	var (
		direct, through, proxied []*Result
		cpuD, cpuG               time.Duration
		allocD, allocG           uint64
	)
	b.ResetTimer()
	wall0 := time.Now()
	for range b.N {
		t0, a0 := cpuTime(), totalAlloc()
		direct = append(direct, run(upstream.URL, "default"))
		t1, a1 := cpuTime(), totalAlloc()
		through = append(through, run(gw.URL, "openai/default"))
		cpuD, cpuG = cpuD+t1-t0, cpuG+cpuTime()-t1
		allocD, allocG = allocD+a1-a0, allocG+totalAlloc()-a1
		if streams > 1 {
			proxied = append(proxied, run(proxy.URL, "default"))
		}
	}
	b.StopTimer()
	wall := time.Since(wall0)

	d, g := merge(direct), merge(through)
	us := func(ms float64) float64 { return ms * 1000 }
	b.ReportMetric(us(g.TTFT.P50-d.TTFT.P50), "added-ttft-p50-µs")
	b.ReportMetric(us(g.TTFT.P99-d.TTFT.P99), "added-ttft-p99-µs")
	b.ReportMetric(us(g.ITL.P99-d.ITL.P99), "added-itl-p99-µs")
	b.ReportMetric(us(g.ITL.P50-d.ITL.P50), "added-itl-p50-µs")
	b.ReportMetric(float64(d.Failed+g.Failed), "errors")
	// CPU time is less at the mercy of a busy machine than latency: the
	// gateway's cost per token is the extra CPU of the gateway run.
	b.ReportMetric(float64(cpuG-cpuD)/float64(time.Microsecond)/float64(max(g.TotalOutputTokens, 1)), "added-cpu-µs/token")
	// Garbage drives how often the collector runs, and its mark phases
	// are where the tail latencies come from (see docs/benchmarks.md).
	b.ReportMetric((float64(allocG)-float64(allocD))/1024/float64(b.N*requests), "added-alloc-KiB/req")
	// How much CPU the process got: far under the machine's cores means
	// other load starved it, and the latency figures show queueing.
	b.ReportMetric((cpuD+cpuG).Seconds()/wall.Seconds(), "cpu-cores-used")
	b.Logf("direct:  TTFT p50 %.3f p99 %.3f ms, ITL p50 %.3f p99 %.3f ms, %d ok %d failed",
		d.TTFT.P50, d.TTFT.P99, d.ITL.P50, d.ITL.P99, d.Completed, d.Failed)
	b.Logf("gateway: TTFT p50 %.3f p99 %.3f ms, ITL p50 %.3f p99 %.3f ms, %d ok %d failed",
		g.TTFT.P50, g.TTFT.P99, g.ITL.P50, g.ITL.P99, g.Completed, g.Failed)
	if len(proxied) > 0 {
		// The floor for any Go HTTP hop on this machine: a bare
		// httputil.ReverseProxy in the gateway's place, in the same run.
		p := merge(proxied)
		b.ReportMetric(us(p.TTFT.P50-d.TTFT.P50), "proxy-added-ttft-p50-µs")
		b.ReportMetric(us(p.TTFT.P99-d.TTFT.P99), "proxy-added-ttft-p99-µs")
		b.ReportMetric(us(p.ITL.P99-d.ITL.P99), "proxy-added-itl-p99-µs")
		b.Logf("proxy:   TTFT p50 %.3f p99 %.3f ms, ITL p50 %.3f p99 %.3f ms, %d ok %d failed",
			p.TTFT.P50, p.TTFT.P99, p.ITL.P50, p.ITL.P99, p.Completed, p.Failed)
	}
	for _, e := range append(d.Errors, g.Errors...) {
		b.Log("error:", e)
	}
	if heap {
		perStream := heapPerStream(b, streams, upstream.URL, gw.URL, client)
		b.ReportMetric(perStream/1024, "heap-KiB/stream")
	}
}

// merge pools the per-request measurements of several runs.
func merge(rs []*Result) *Result {
	var all []Request
	var d time.Duration
	for _, r := range rs {
		all = append(all, r.Requests...)
		d += r.Duration
	}
	return summarise(rs[0].Config, all, d)
}

// heapPerStream opens n streams that each send one token and
// then hang, directly to the mock and then through the gateway, and returns
// the gateway's share of the live heap per open stream: (heap with streams
// through the gateway − heap with streams direct) / streams. The load
// generator's and the mock's own heap are in both figures and cancel out.
func heapPerStream(b *testing.B, n int, upstreamURL, gwURL string, client *http.Client) float64 {
	open := func(base, model string) (heap uint64, closeAll func()) {
		ctx, cancel := context.WithCancel(context.Background())
		p := openai.NewProvider(openai.Config{BaseURL: base + "/v1", HTTPClient: client})
		streams := make([]stream.Stream, n)
		var wg sync.WaitGroup
		for i := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := p.Stream(ctx, &stream.Request{Model: model, Messages: []stream.Message{{Role: "user", Content: "hi"}}})
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
		heap = liveHeap()
		return heap, func() {
			for _, s := range streams {
				if s != nil {
					s.Close()
				}
			}
			cancel()
		}
	}
	base := liveHeap()
	dHeap, closeD := open(upstreamURL, "default?hang_after=1")
	closeD()
	time.Sleep(100 * time.Millisecond) // let server goroutines see the closes
	mid := liveHeap()
	gHeap, closeG := open(gwURL, "openai/default?hang_after=1")
	closeG()
	direct := float64(dHeap) - float64(base)
	through := float64(gHeap) - float64(mid)
	b.Logf("live heap per open stream: direct %.1f KiB, through the gateway %.1f KiB", direct/float64(n)/1024, through/float64(n)/1024)
	return (through - direct) / float64(n)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// totalAlloc is the bytes allocated by the process so far.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
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
