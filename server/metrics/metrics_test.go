package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/server/metrics"
	"github.com/runnel/runnel/stream"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rr := httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rr.Body)
	return string(b)
}

// hasLines checks that the exposition out holds each of want.
func hasLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestObserverExportsEveryFigure(t *testing.T) {
	m := metrics.New()
	m.CallStarted("mock", "default?tokens=3")
	m.CallStarted("openai", "gpt-4o-mini")
	m.FirstToken("mock", "default?tokens=3", 2*time.Millisecond)
	m.TokenGap("mock", "default?tokens=3", 300*time.Microsecond)
	// The per-call observer the gateway uses feeds the same series, as
	// does another model name with the same label.
	m.Call("mock", "default?tokens=3").TokenGap(400 * time.Microsecond)
	m.Call("mock", "default?tokens=5").FirstToken(time.Second)
	m.Call("mock", "default?tokens=3").FirstToken(time.Second)
	m.CallEnded(&gateway.Record{
		Provider: "mock", Model: "default?tokens=3", Status: "ok", Duration: 40 * time.Millisecond, TTFT: 2 * time.Millisecond,
		Usage: stream.Usage{PromptTokens: 7, CompletionTokens: 3},
	})
	m.CallEnded(&gateway.Record{Provider: "openai", Model: "gpt-4o-mini", Status: "cancelled"})

	out := scrape(t, m)
	hasLines(t, out,
		`runnel_time_to_first_token_seconds_count{model="default",provider="mock"} 3`,
		`runnel_time_to_first_token_seconds_sum{model="default",provider="mock"} 2.002`,
		`runnel_time_to_first_token_seconds_bucket{model="default",provider="mock",le="0.5"} 1`,
		`runnel_time_to_first_token_seconds_bucket{model="default",provider="mock",le="1"} 3`,
		`runnel_inter_token_latency_seconds_count{model="default",provider="mock"} 2`,
		`runnel_inter_token_latency_seconds_bucket{model="default",provider="mock",le="0.00025"} 0`,
		`runnel_inter_token_latency_seconds_bucket{model="default",provider="mock",le="0.0005"} 2`,
		`runnel_request_duration_seconds_count{model="default",provider="mock"} 1`,
		// TPOT: (40ms - 2ms) / (3 - 1) tokens.
		`runnel_time_per_output_token_seconds_sum{model="default",provider="mock"} 0.019`,
		`runnel_time_per_output_token_seconds_count{model="default",provider="mock"} 1`,
		`runnel_tokens_total{model="default",provider="mock",type="prompt"} 7`,
		`runnel_tokens_total{model="default",provider="mock",type="completion"} 3`,
		`runnel_requests_total{model="default",provider="mock",status="ok"} 1`,
		`runnel_requests_total{model="gpt-4o-mini",provider="openai",status="cancelled"} 1`,
		`runnel_active_streams{model="default",provider="mock"} 0`,
		`runnel_active_streams{model="gpt-4o-mini",provider="openai"} 0`,
		`go_goroutines `,
	)
}

func TestModelLabelCardinalityIsBounded(t *testing.T) {
	m := metrics.New()
	for i := range 600 {
		model := "m" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		m.CallStarted("p", model)
	}
	out := scrape(t, m)
	if n := strings.Count(out, "runnel_active_streams{"); n != 501 {
		t.Fatalf("active_streams has %d series, want 500 models plus \"other\"", n)
	}
	if !strings.Contains(out, `runnel_active_streams{model="other",provider="p"} 100`) {
		t.Fatal(`models past the bound are not counted as "other"`)
	}
}

// With Options.Known, only configured models get series of their own:
// names clients make up (a 404 each) all count under "other".
func TestUnknownModelsAddNoSeries(t *testing.T) {
	m := metrics.NewWith(metrics.Options{Known: func(provider, model string) bool {
		return provider == "engine" && model == "stories260K"
	}})
	m.CallStarted("engine", "stories260K")
	for i := range 50 {
		model := "nosuch" + strings.Repeat("x", i)
		m.CallStarted("", model)
		m.CallEnded(&gateway.Record{Model: model, Status: "error"})
	}
	out := scrape(t, m)
	if n := strings.Count(out, "runnel_active_streams{"); n != 2 {
		t.Fatalf("active_streams has %d series, want stories260K and other:\n%s", n, out)
	}
	hasLines(t, out,
		`runnel_active_streams{model="stories260K",provider="engine"} 1`,
		`runnel_requests_total{model="other",provider="",status="error"} 50`,
	)
	if strings.Contains(out, "nosuch") {
		t.Error("a made-up model name is a label value")
	}
}

// BenchmarkTokenGap times a token's metrics from parallel streams: looked
// up by labels per token, and through a call's own TokenObserver.
func BenchmarkTokenGap(b *testing.B) {
	m := metrics.New()
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.TokenGap("mock", "default", time.Millisecond)
			}
		})
	})
	b.Run("call", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c := m.Call("mock", "default")
			for pb.Next() {
				c.TokenGap(time.Millisecond)
			}
		})
	})
}

// TestSeriesFollowTheirPair: calls for pairs that share a provider or a
// model, in runs and alternating, each count under their own pair (the
// series of the last pair is kept for the next call; "" ends as "ok").
func TestSeriesFollowTheirPair(t *testing.T) {
	m := metrics.New()
	call := func(provider, model, status string) {
		m.CallStarted(provider, model)
		m.Call(provider, model).FirstToken(time.Millisecond)
		m.CallEnded(&gateway.Record{Provider: provider, Model: model, Status: status})
	}
	for range 10 {
		call("a", "m", "ok")
	}
	for range 5 {
		call("b", "m", "")
		call("a", "n", "ok")
	}
	for range 3 {
		call("a", "m", "")
	}
	call("b", "m", "error")
	out := scrape(t, m)
	hasLines(t, out,
		`runnel_requests_total{model="m",provider="a",status="ok"} 13`,
		`runnel_requests_total{model="m",provider="b",status="ok"} 5`,
		`runnel_requests_total{model="n",provider="a",status="ok"} 5`,
		`runnel_requests_total{model="m",provider="b",status="error"} 1`,
		`runnel_time_to_first_token_seconds_count{model="m",provider="a"} 13`,
		`runnel_time_to_first_token_seconds_count{model="m",provider="b"} 6`,
		`runnel_time_to_first_token_seconds_count{model="n",provider="a"} 5`,
		`runnel_active_streams{model="m",provider="a"} 0`,
		`runnel_active_streams{model="m",provider="b"} 0`,
		`runnel_active_streams{model="n",provider="a"} 0`,
	)
	if strings.Contains(out, `status="ok"} 0`) {
		t.Errorf("a zero ok count shown")
	}
}
