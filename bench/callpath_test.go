package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/mock"
)

// cannedUpstream answers every request with the same recorded SSE body,
// one event per read, as tokens that arrive apart do: an upstream with no
// sockets and no cost of its own, so that a benchmark over it measures
// only the hop's work.
type cannedUpstream struct{ body []byte }

// eventReader returns one SSE event (up to its blank line) per Read.
type eventReader struct{ rest []byte }

func (r *eventReader) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		return 0, io.EOF
	}
	n := bytes.Index(r.rest, []byte("\n\n")) + 2
	if n < 2 {
		n = len(r.rest)
	}
	n = copy(p, r.rest[:n])
	r.rest = r.rest[n:]
	return n, nil
}

func (c cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/event-stream"}},
		Body:    io.NopCloser(&eventReader{c.body}),
		Request: r, ContentLength: -1,
	}, nil
}

// recordedStream is the mock upstream's streamed answer of n tokens, as
// the load generator's request gets it.
func recordedStream(tb testing.TB, n int) []byte {
	return recorded(tb, MockHandler(mock.Options{Tokens: n}), "/v1/chat/completions", chatBody("default"))
}

// recordedAnthropicStream is recordedStream from the Anthropic mock.
func recordedAnthropicStream(tb testing.TB, n int) []byte {
	return recorded(tb, MockAnthropicHandler(mock.Options{Tokens: n}), "/v1/messages", messagesBody("default"))
}

func recorded(tb testing.TB, h http.Handler, path, body string) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
	if rec.Code != http.StatusOK {
		tb.Fatalf("mock answered %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// messagesBody is the request the load generator sends to a Messages API
// (the anthropic provider's body).
func messagesBody(model string) string {
	return `{"model":"` + model + `","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a story."}]}],"stream":true}`
}

func chatBody(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"Tell me a story."}],"stream":true,"stream_options":{"include_usage":true}}`
}

// sinkWriter is a client connection that costs nothing: it counts the
// bytes written.
type sinkWriter struct {
	h http.Header
	n int
}

func (w *sinkWriter) Header() http.Header { return w.h }
func (w *sinkWriter) WriteHeader(int)     {}
func (w *sinkWriter) Flush()              {}
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
	callPath(b, recordedStream(b, callTokens), "/v1/chat/completions", chatBody, "openai/default", func(c *http.Client) http.Handler {
		return gatewayOver("http://upstream", c)
	})
}

// BenchmarkCallPathAnthropic is BenchmarkCallPath with Anthropic's
// Messages API on both sides: the anthropic dialect over the anthropic
// upstream provider, the proxy over the same recorded answer.
func BenchmarkCallPathAnthropic(b *testing.B) {
	callPath(b, recordedAnthropicStream(b, callTokens), "/v1/messages", messagesBody, "anthropic/default", func(c *http.Client) http.Handler {
		return gatewayAnthropicOver("http://upstream", c)
	})
}

// callTokens is the tokens of a call in BenchmarkCallPath.
const callTokens = 50

// callPath runs calls to path through the proxy and through runnel (given
// a client for the upstream) over the recorded answer body, with the
// request body of each one's model (the proxy's "default"), and reports
// their CPU time per token.
func callPath(b *testing.B, body []byte, path string, reqBody func(model string) string, model string, runnel func(*http.Client) http.Handler) {
	up := cannedUpstream{body}
	for _, h := range []struct {
		name, model string
		h           http.Handler
	}{
		{"proxy", "default", proxyOver("http://upstream", up)},
		{"runnel", model, runnel(&http.Client{Transport: up})},
	} {
		b.Run(h.name, func(b *testing.B) {
			reqBody := reqBody(h.model)
			w := &sinkWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				clear(w.h)
				w.n = 0
				r := httptest.NewRequest("POST", path, strings.NewReader(reqBody))
				h.h.ServeHTTP(w, r)
				if w.n < len(body)/2 {
					b.Fatalf("%s wrote %d bytes", h.name, w.n)
				}
			}
			// CPU time, not wall time: on a shared machine the wall time
			// of an op is mostly waiting for a core.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/callTokens/1000, "cpu-µs/token")
		})
	}
}
