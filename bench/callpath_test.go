package bench

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/mock"
)

// cannedUpstream answers every request with the same recorded SSE body,
// one event per read, as tokens that arrive apart do: an upstream with no
// sockets and no cost of its own, so that a benchmark over it measures
// only the hop's work.
type cannedUpstream = dialecttest.Canned

// recordedStream is the mock upstream's streamed answer of n tokens, as
// the load generator's request gets it.
func recordedStream(tb testing.TB, n int) []byte {
	return recorded(tb, MockHandler(mock.Options{Tokens: n}), "/v1/chat/completions", chatBody("default"))
}

// recordedAnthropicStream is recordedStream for the Messages API.
func recordedAnthropicStream(tb testing.TB, n int) []byte {
	return recorded(tb, MockAnthropicHandler(mock.Options{Tokens: n}), "/v1/messages", messagesBody("default"))
}

// recorded is h's answer to body posted to path.
func recorded(tb testing.TB, h http.Handler, path, body string) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
	if rec.Code != http.StatusOK {
		tb.Fatalf("mock answered %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// messagesBody is the load generator's Messages request (anthropic's
// provider sends content as blocks).
func messagesBody(model string) string {
	return `{"model":"` + model + `","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a story."}]}],"stream":true}`
}

func chatBody(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"Tell me a story."}],"stream":true,"stream_options":{"include_usage":true}}`
}

// sinkWriter is a client connection that costs nothing: it counts the
// bytes written. It flushes as net/http's response does (FlushError as
// well as Flush), so that the server's recorder takes the path it takes
// in a real server.
type sinkWriter struct {
	h http.Header
	n int
}

func (w *sinkWriter) Header() http.Header { return w.h }
func (w *sinkWriter) WriteHeader(int)     {}
func (w *sinkWriter) Flush()              {}
func (w *sinkWriter) FlushError() error   { return nil }
func (w *sinkWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// BenchmarkCallPath is one streamed call of 50 tokens through a hop, in
// process, with neither client nor upstream sockets: the upstream is a
// recorded answer (cannedUpstream) and the client a sink. What is left is
// the hop's own work per call (request decoding, routing, the upstream
// request, per-token parsing, controls, metering and encoding), the part
// of BenchmarkGatewayOverhead's CPU per token that is not system calls.
// The proxy is the bare ReverseProxy over the same canned upstream.
// cpu-µs/token is the process's CPU time (the collector's included) per
// token.
func BenchmarkCallPath(b *testing.B) {
	const tokens = 50
	body := recordedStream(b, tokens)
	up := cannedUpstream{Body: body}
	callPath(b, tokens, body, []callHop{
		{"proxy", "/v1/chat/completions", chatBody("default"), proxyOver("http://upstream", up)},
		{"runnel", "/v1/chat/completions", chatBody("openai/default"), gatewayOver("http://upstream", &http.Client{Transport: up})},
	})
}

// BenchmarkCallPathObfuscated is BenchmarkCallPath over the answer as
// the real OpenAI API streams it by default: every chunk ends with an
// "obfuscation" member of random padding (mock.Obfuscate), another on
// every chunk.
func BenchmarkCallPathObfuscated(b *testing.B) {
	const tokens = 50
	body := mock.Obfuscate(recordedStream(b, tokens), 1)
	up := cannedUpstream{Body: body}
	callPath(b, tokens, body, []callHop{
		{"proxy", "/v1/chat/completions", chatBody("default"), proxyOver("http://upstream", up)},
		{"runnel", "/v1/chat/completions", chatBody("openai/default"), gatewayOver("http://upstream", &http.Client{Transport: up})},
	})
}

// BenchmarkCallPathAnthropic is BenchmarkCallPath with Anthropic's
// Messages API on both sides: the anthropic dialect over the anthropic
// upstream provider, the proxy over the same recorded answer.
func BenchmarkCallPathAnthropic(b *testing.B) {
	const tokens = 50
	body := recordedAnthropicStream(b, tokens)
	up := cannedUpstream{Body: body}
	callPath(b, tokens, body, []callHop{
		{"proxy", "/v1/messages", messagesBody("default"), proxyOver("http://upstream", up)},
		{"runnel", "/v1/messages", messagesBody("anthropic/default"), gatewayAnthropicOver("http://upstream", &http.Client{Transport: up})},
	})
}

// BenchmarkCallSetup is BenchmarkCallPath with calls of one token, for
// both hops of the overhead benchmarks (OpenAI and Anthropic): what is
// left is each call's fixed work (request decoding, routing, the
// upstream request, the response's headers, the call's end and record).
// Counted with callgrind, two runs of different -benchtime give the
// instructions per call (docs/benchmarks.md, issue 13, percall session).
func BenchmarkCallSetup(b *testing.B) {
	body := recordedStream(b, 1)
	up := cannedUpstream{Body: body}
	abody := recordedAnthropicStream(b, 1)
	aup := cannedUpstream{Body: abody}
	b.Run("openai", func(b *testing.B) {
		callPath(b, 1, body, []callHop{
			{"proxy", "/v1/chat/completions", chatBody("default"), proxyOver("http://upstream", up)},
			{"runnel", "/v1/chat/completions", chatBody("openai/default"), gatewayOver("http://upstream", &http.Client{Transport: up})},
		})
	})
	b.Run("anthropic", func(b *testing.B) {
		callPath(b, 1, abody, []callHop{
			{"proxy", "/v1/messages", messagesBody("default"), proxyOver("http://upstream", aup)},
			{"runnel", "/v1/messages", messagesBody("anthropic/default"), gatewayAnthropicOver("http://upstream", &http.Client{Transport: aup})},
		})
	})
}

// callHop is one hop of callPath: its name, the client's request and the
// handler.
type callHop struct {
	name, path, body string
	h                http.Handler
}

// callPath runs calls of tokens tokens through each hop, reporting CPU
// time per token; body is the upstream's canned answer.
func callPath(b *testing.B, tokens int, body []byte, hops []callHop) {
	for _, h := range hops {
		b.Run(h.name, func(b *testing.B) {
			w := &sinkWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				clear(w.h)
				w.n = 0
				r := httptest.NewRequest("POST", h.path, strings.NewReader(h.body))
				h.h.ServeHTTP(w, r)
				if w.n < len(body)/2 {
					b.Fatalf("%s wrote %d bytes", h.name, w.n)
				}
			}
			// CPU time, not wall time: on a shared machine the wall time
			// of an op is mostly waiting for a core.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/float64(tokens)/1000, "cpu-µs/token")
		})
	}
}
