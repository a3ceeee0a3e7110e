package client

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
)

// benchChat is a chat stream as Runnel sends it: tokens events of one
// token each, an id line on every event, then the finish, the usage and
// [DONE].
func benchChat(tokens int) string {
	var b strings.Builder
	event := func(data string) {
		b.WriteString("id: " + strconv.Itoa(b.Len()) + "\ndata: " + data + "\n\n")
	}
	for range tokens {
		event(`{"id":"chatcmpl-0a1b2c3d","object":"chat.completion.chunk","created":1735689600,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}`)
	}
	event(`{"id":"chatcmpl-0a1b2c3d","object":"chat.completion.chunk","created":1735689600,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
	event(`{"id":"chatcmpl-0a1b2c3d","object":"chat.completion.chunk","created":1735689600,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":` + strconv.Itoa(tokens) + `,"total_tokens":` + strconv.Itoa(5+tokens) + `}}`)
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

// BenchmarkStreamChat is one streamed chat call read to its end, of 1 and
// of 50 tokens, over a canned server: the SDK's own work a call and, from
// the two, a token's (docs/benchmarks.md, loose2 session).
func BenchmarkStreamChat(b *testing.B) {
	for _, tokens := range []int{1, 50} {
		b.Run(strconv.Itoa(tokens), func(b *testing.B) {
			c := New("http://runnel", WithHTTPClient(&http.Client{Transport: dialecttest.Canned{Body: []byte(benchChat(tokens))}}))
			req := ChatRequest{Model: "m", Messages: []Message{{Role: "user", Content: "Tell me a story."}}}
			b.ReportAllocs()
			for b.Loop() {
				s := c.StreamChat(context.Background(), req)
				n := 0
				for ev, err := range s.Events() {
					if err != nil {
						b.Fatal(err)
					}
					if ev.Text != "" {
						n++
					}
				}
				if n != tokens || s.Usage() == nil || s.FinishReason() != "stop" {
					b.Fatal(n, s.Usage(), s.FinishReason())
				}
			}
		})
	}
}
