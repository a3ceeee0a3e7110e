package bench

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestLongPromptBytesPerCall pins what a call with a long prompt
// allocates beyond a short-prompt call, in prompts (bytes, not time): one
// streamed call after another through each hop, in process, over a
// canned upstream (as BenchmarkCallSetup), with the collector off so
// that the pools keep what they are given. A prompt decoded into a string
// of its own, then joined into another (Anthropic), was a prompt or two
// of garbage a call beside the body it was read from; the body is now the
// prompt's memory (dialect.DecodeJSONOwned), and the upstream body comes
// from a pool.
func TestLongPromptBytesPerCall(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops what it is given under the race detector")
	}
	const prompt = 8 << 10
	for _, c := range promptHops(t) {
		t.Run(c.name, func(t *testing.T) {
			short := bytesPerCall(t, c.h, c.path, c.body("x"))
			long := bytesPerCall(t, c.h, c.path, c.body(strings.Repeat("x", prompt)))
			prompts := (long - short) / prompt
			t.Logf("bytes a call: %.0f with a 1-byte prompt, %.0f with 8 KiB: %.2f prompts more", short, long, prompts)
			// One prompt, in the size class of the body that holds it
			// (8 KiB and its JSON: 9,472 bytes).
			if prompts > 1.25 {
				t.Errorf("a call with an 8 KiB prompt allocates %.2f prompts more than one with a 1-byte prompt, want at most 1.25", prompts)
			}
		})
	}
}

// bytesPerCall is the heap bytes a streamed call of body through h
// allocates, on average, with the collector off.
func bytesPerCall(t *testing.T, h http.Handler, path, body string) float64 {
	const n = 200
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	call := func() {
		w := &sinkWriter{h: http.Header{}}
		h.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(body)))
		if w.n == 0 {
			t.Fatal("nothing written")
		}
	}
	for range 20 {
		call()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		call()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / n
}

// promptHop is a hop of one-token calls over a canned upstream, and the
// body of a call with a given prompt.
type promptHop struct {
	name, path string
	body       func(text string) string
	h          http.Handler
}

func promptHops(tb testing.TB) []promptHop {
	chat := recordedStream(tb, 1)
	messages := recordedAnthropicStream(tb, 1)
	return []promptHop{
		{"openai", "/v1/chat/completions", func(text string) string {
			return `{"model":"openai/default","messages":[{"role":"user","content":"` + text + `"}],"stream":true,"stream_options":{"include_usage":true}}`
		}, gatewayOver("http://upstream", &http.Client{Transport: cannedUpstream{Body: chat}})},
		{"anthropic", "/v1/messages", func(text string) string {
			return `{"model":"anthropic/default","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"` + text + `"}]}],"stream":true}`
		}, gatewayAnthropicOver("http://upstream", &http.Client{Transport: cannedUpstream{Body: messages}})},
	}
}

// BenchmarkLongPromptCall is BenchmarkCallSetup's Runnel side with an
// 8 KiB prompt, plain or with a newline every 64 bytes (escaped in the
// body): for callgrind's instructions a call.
func BenchmarkLongPromptCall(b *testing.B) {
	plain := strings.Repeat("x", 8<<10)
	lines := strings.Repeat(strings.Repeat("x", 62)+`\n`, 128)
	for _, c := range promptHops(b) {
		for _, p := range []struct{ name, text string }{{"plain", plain}, {"newlines", lines}} {
			b.Run(c.name+"/"+p.name, func(b *testing.B) {
				body := c.body(p.text)
				w := &sinkWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					w.n = 0
					c.h.ServeHTTP(w, httptest.NewRequest("POST", c.path, strings.NewReader(body)))
					if w.n == 0 {
						b.Fatal("nothing written")
					}
				}
			})
		}
	}
}
