package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/gemini"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// BenchmarkGeminiCoalesce is one streamed OpenAI-dialect call over a
// Gemini upstream, through real sockets in this process: 50 tokens, sent
// by the upstream in bursts of 5 (one write each, 1 ms apart). "flush"
// hides the provider's stream.WaitNotifier (as before issue 13's Gemini
// change: every event is flushed with a write of its own); "coalesce" is
// the provider as it is. writes/token and cpu-µs/token are the whole
// process's (client, gateway and upstream), so their difference is the
// gateway's; the rest is the same in both. Run with -count and compare
// with benchstat: -count alternates the two.
func BenchmarkGeminiCoalesce(b *testing.B) {
	const tokens, burst = 50, 5
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		var sb strings.Builder
		for i := range tokens {
			finish := ""
			if i == tokens-1 {
				finish = `,"finishReason":"STOP"`
			}
			fmt.Fprintf(&sb, `data: {"candidates":[{"content":{"parts":[{"text":"tok%d "}],"role":"model"}%s,"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":%d,"totalTokenCount":%d}}`+"\r\n\r\n", i, finish, i+1, i+6)
			if (i+1)%burst == 0 {
				io.WriteString(w, sb.String())
				w.(http.Flusher).Flush()
				sb.Reset()
				time.Sleep(time.Millisecond)
			}
		}
	}))
	defer up.Close()
	p := gemini.NewProvider(gemini.Config{BaseURL: up.URL + "/v1beta"})
	for _, c := range []struct {
		name string
		p    stream.Provider
	}{{"flush", flushEach{p}}, {"coalesce", p}} {
		b.Run(c.name, func(b *testing.B) {
			router := gateway.NewStaticRouter()
			router.Register("gemini", c.p)
			mux := http.NewServeMux()
			openai.NewServer(gateway.New(gateway.Options{Router: router}), openai.Options{KeepAlive: -1}).Register(mux)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			body := `{"model":"gemini/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			_, w0 := syscalls()
			cpu0 := cpuTime()
			for b.Loop() {
				resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !strings.Contains(string(got), fmt.Sprintf("tok%d ", tokens-1)) || !strings.HasSuffix(string(got), "data: [DONE]\n\n") {
					b.Fatalf("%v: %s", err, got)
				}
			}
			_, w1 := syscalls()
			b.ReportMetric(float64(w1-w0)/float64(b.N)/tokens, "writes/token")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/tokens/1000, "cpu-µs/token")
		})
	}
}

// flushEach is a provider that hides its stream.WaitNotifier, so that the
// dialect flushes every event.
type flushEach struct{ stream.Provider }
