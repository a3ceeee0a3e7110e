package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/mock"
)

// BenchmarkCallEnd is BenchmarkCallSetup's one-token calls over a real
// upstream on loopback (the mock's handler behind net/http's server, the
// transport `runnel serve` builds, config.UpstreamClient): a call's
// fixed work with the upstream request's context and the end of its
// body as they are over a socket, where the end of the chunked body
// (written by net/http after the mock's handler returns) may or may not
// have been read with the last event. drains/call is the share of calls
// whose end was left to a drain on a goroutine of its own
// (docs/benchmarks.md, issue 13, drainclose session); dials is how many
// upstream connections the calls opened (a call that comes before the
// last call's drain ended opens another). goroutines/call is how many
// goroutines the process started a call: the mock's server starts one
// (net/http's background read), a drain another, and a Keeper's timer
// one when it fires (docs/benchmarks.md, issue 13, percall5 session).
func BenchmarkCallEnd(b *testing.B) {
	for _, c := range []struct {
		api, path, body string
		mock            func(mock.Options) http.Handler
		over            func(string, *http.Client) http.Handler
	}{
		{"openai", "/v1/chat/completions", chatBody("openai/default"), MockHandler,
			func(url string, c *http.Client) http.Handler { return gatewayOver(url, c) }},
		{"anthropic", "/v1/messages", messagesBody("anthropic/default"), MockAnthropicHandler,
			func(url string, c *http.Client) http.Handler { return gatewayAnthropicOver(url, c) }},
	} {
		b.Run(c.api, func(b *testing.B) {
			up := httptest.NewServer(c.mock(mock.Options{Tokens: 1}))
			defer up.Close()
			client := config.UpstreamClient()
			defer client.CloseIdleConnections()
			t := client.Transport.(*http.Transport)
			dial, dials := t.DialContext, 0
			t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials++ // one call at a time
				return dial(ctx, network, addr)
			}
			h := c.over(up.URL, client)
			w := &sinkWriter{h: http.Header{}}
			b.ReportAllocs()
			d0, g0 := dialect.DrainsStarted(), goroutinesCreated()
			for b.Loop() {
				clear(w.h)
				w.n = 0
				h.ServeHTTP(w, httptest.NewRequest("POST", c.path, strings.NewReader(c.body)))
				if w.n == 0 {
					b.Fatal("no answer")
				}
			}
			dialect.WaitDrains()
			b.ReportMetric(float64(dialect.DrainsStarted()-d0)/float64(b.N), "drains/call")
			b.ReportMetric(float64(goroutinesCreated()-g0)/float64(b.N), "goroutines/call")
			b.ReportMetric(float64(dials), "dials")
		})
	}
}

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	m := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}
