package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCallConn is BenchmarkCallPath with the client on a real
// loopback connection: each hop served by net/http (httptest.NewServer)
// to a client in the same process that reads each call's body to its
// end, the upstream still the canned answer. It counts what the sink
// leaves out: the connection's own writer under the server's recorder
// (its Write and FlushError, a flush an event), and the client's reads,
// the same work for every hop. Counted with callgrind as BenchmarkCallPath
// is (600x - 200x), GOMAXPROCS=1: how the client's reads fall between the
// server's writes moves the total a little from run to run, so compare
// functions' own counts (docs/benchmarks.md, issue 13, tokpath4 session).
func BenchmarkCallConn(b *testing.B) {
	const tokens = 50
	body, abody := recordedStream(b, tokens), recordedAnthropicStream(b, tokens)
	up, aup := cannedUpstream{Body: body}, cannedUpstream{Body: abody}
	for _, h := range []callHop{
		{"openai/proxy", "/v1/chat/completions", chatBody("default"), proxyOver("http://upstream", up)},
		{"openai/runnel", "/v1/chat/completions", chatBody("openai/default"), gatewayOver("http://upstream", &http.Client{Transport: up})},
		{"anthropic/proxy", "/v1/messages", messagesBody("default"), proxyOver("http://upstream", aup)},
		{"anthropic/runnel", "/v1/messages", messagesBody("anthropic/default"), gatewayAnthropicOver("http://upstream", &http.Client{Transport: aup})},
	} {
		b.Run(h.name, func(b *testing.B) {
			srv := httptest.NewServer(h.h)
			defer srv.Close()
			client := srv.Client()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(srv.URL+h.path, "application/json", strings.NewReader(h.body))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n < int64(min(len(body), len(abody)))/2 {
					b.Fatalf("%s: %d bytes, %v", h.name, n, err)
				}
			}
		})
	}
}
