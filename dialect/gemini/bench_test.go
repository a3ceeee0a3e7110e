package gemini

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// benchAnswer is a one-token answer, as Gemini streams it.
const benchAnswer = `data: {"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}` + "\r\n\r\n" +
	`data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}` + "\r\n\r\n"

// BenchmarkProviderCall is one streamed call of one token through the
// provider, over a canned upstream (no sockets): the provider's own work
// per call (the request, the stream and its reader, the answer's end).
// With callgrind, two runs of different -benchtime give its
// instructions per call (docs/benchmarks.md, tidy session).
func BenchmarkProviderCall(b *testing.B) {
	p := NewProvider(Config{BaseURL: "http://upstream", APIKey: "k", HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: []byte(benchAnswer)}}})
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "Tell me a story."}}}
	dialecttest.Calls(b, p, req, 3)
}

// BenchmarkProviderCall50 is BenchmarkProviderCall with a 50-token answer
// (the gateway benchmarks' length): against it, the provider's work per
// token.
func BenchmarkProviderCall50(b *testing.B) {
	chunk := `data: {"candidates":[{"content":{"parts":[{"text":" token"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3},"modelVersion":"gemini-2.5-flash","responseId":"mJ1aaK2nB9Gz7M8P"}` + "\r\n\r\n"
	answer := strings.Repeat(chunk, 49) + benchAnswer
	p := NewProvider(Config{BaseURL: "http://upstream", APIKey: "k", HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: []byte(answer)}}})
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "Tell me a story."}}}
	dialecttest.Calls(b, p, req, 52)
}

// BenchmarkCountTokens is one countTokens call over a canned upstream (no
// sockets): the provider's own work a count.
func BenchmarkCountTokens(b *testing.B) {
	p := NewProvider(Config{BaseURL: "http://upstream", APIKey: "k", HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: []byte(`{"totalTokens":3}`)}}})
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "Tell me a story."}}}
	b.ReportAllocs()
	for b.Loop() {
		if n, err := p.CountTokens(context.Background(), req); err != nil || n != 3 {
			b.Fatal(n, err)
		}
	}
}
