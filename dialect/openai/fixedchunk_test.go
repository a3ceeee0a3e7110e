package openai

import (
	"slices"
	"strings"
	"testing"
)

// fixedForms are the first, finish and usage chunks of real upstreams
// (heads shortened where they do not matter): fixedChunk takes each.
var fixedForms = []string{
	// OpenAI, with include_usage (usage null until the last chunk).
	`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
	`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"o3-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":200,"total_tokens":209,"completion_tokens_details":{"reasoning_tokens":192}},"obfuscation":"Zx7"}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null,"obfuscation":"a1"}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"content_filter"}]}`,
	// vLLM.
	`{"id":"chatcmpl-9f3b1c","object":"chat.completion.chunk","created":1741569952,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-9f3b1c","object":"chat.completion.chunk","created":1741569952,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}`,
	`{"id":"chatcmpl-9f3b1c","object":"chat.completion.chunk","created":1741569952,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":"stop","stop_reason":151645}]}`,
	`{"id":"chatcmpl-9f3b1c","object":"chat.completion.chunk","created":1741569952,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[],"usage":{"prompt_tokens":10,"total_tokens":20,"completion_tokens":10,"prompt_tokens_details":null}}`,
	// llama.cpp's server: choices first, the finish reason before the index.
	`{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1741569952,"id":"chatcmpl-ZHl2","model":"gpt-3.5-turbo","system_fingerprint":"b4870-2c9f833d","object":"chat.completion.chunk"}`,
	`{"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1741569952,"id":"chatcmpl-ZHl2","model":"gpt-3.5-turbo","system_fingerprint":"b4870-2c9f833d","object":"chat.completion.chunk","usage":{"completion_tokens":12,"prompt_tokens":9,"total_tokens":21}}`,
	// Ollama's OpenAI endpoint.
	`{"id":"chatcmpl-440","object":"chat.completion.chunk","created":1741569952,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}`,
	`{"id":"chatcmpl-440","object":"chat.completion.chunk","created":1741569952,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}`,
	`{"id":"chatcmpl-440","object":"chat.completion.chunk","created":1741569952,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":26,"completion_tokens":10,"total_tokens":36}}`,
	// LM Studio.
	`{"id":"chatcmpl-v5w0","object":"chat.completion.chunk","created":1741569952,"model":"qwen2.5-7b-instruct","system_fingerprint":"qwen2.5-7b-instruct","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-v5w0","object":"chat.completion.chunk","created":1741569952,"model":"qwen2.5-7b-instruct","system_fingerprint":"qwen2.5-7b-instruct","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
	// Runnel's mock: the role with the first token, usage with no null before.
	`{"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1796624753,"model":"default","choices":[{"index":0,"delta":{"role":"assistant","content":"Runnel"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1796624753,"model":"default","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"\n\"q\" \u00e9 é"},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"eos"}],"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens_details":{"reasoning_tokens":3}},"usage":{"completion_tokens_details":null}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":1},"usage":null}`,
	`{"id":"c","choices":[],"usage":{}}`,
}

// fixedMisses are chunks fixedChunk leaves to the full parse: forms it
// does not read, and chunks the full parse refuses or reads otherwise.
var fixedMisses = []string{
	`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":{"content":[]},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":1,"delta":{"content":"a"},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"r"},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"role":"user","content":"a"},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant",},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"st\u006fp"}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}] }`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]} `,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}],"error":null}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}],"Usage":null}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}],"choices":[]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":01}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":1.0}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":-1}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":1234567890123456789}}`,
	`{"id":"c","choices":[],"usage":{"Prompt_tokens":1}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens_details":{"cached_tokens":null}}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":1},"timings":{"prompt_ms":1.5}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":1}`,
	`{"id":"c","choices":[`,
}

// TestFixedChunk: the forms are taken, at firstHead's head, to what the
// full parse makes of them; the misses are not.
func TestFixedChunk(t *testing.T) {
	for _, data := range fixedForms {
		h := firstHead([]byte(data))
		var c liteChunk
		at, ok := fixedChunk([]byte(data), h, &c)
		if h == 0 || !ok {
			t.Errorf("fixedChunk(%s) at %d: not taken", data, h)
			continue
		}
		want, wantAt, _, wantOK := parseLiteFrom(data, h)
		if !wantOK || c != want || at != wantAt {
			t.Errorf("fixedChunk(%s) = %+v %d, the full parse %+v %d %v", data, c, at, want, wantAt, wantOK)
		}
	}
	for _, data := range fixedMisses {
		h := firstHead([]byte(data))
		if h == 0 {
			t.Fatalf("%s: no head", data)
		}
		var c liteChunk
		if _, ok := fixedChunk([]byte(data), h, &c); ok {
			t.Errorf("fixedChunk(%s) took %+v", data, c)
		}
	}
}

// A stream of the first, finish and usage chunks allocates the first
// chunk's content and the room for its head and shape, no more: the
// finish reason is kept without a copy, and the head and the shape share
// one allocation (four on the old code).
func TestFixedChunksAllocations(t *testing.T) {
	body := "data: " + fixedForms[18] + "\n\ndata: " + fixedForms[19] + "\n\ndata: [DONE]\n\n"
	var (
		s upstreamStream
		r strings.Reader
	)
	n := testing.AllocsPerRun(100, func() {
		r.Reset(body)
		s = upstreamStream{}
		s.ev.Init(&r)
		s.events = &s.ev
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		s.ev.Release()
	})
	if n > 2 {
		t.Errorf("%.0f allocations a stream, want 2", n)
	}
}

// FuzzFixedChunk holds fixedChunk to the full parse: a chunk it takes
// after firstHead's head parses to the same chunk, from the head or from
// the start, with the content at the same place.
func FuzzFixedChunk(f *testing.F) {
	for _, s := range append(append(fixedForms, fixedMisses...), streamChunks...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		h := firstHead([]byte(data))
		if h == 0 {
			return
		}
		c := liteChunk{content: "left from another chunk"} // fixedChunk starts from none
		at, ok := fixedChunk([]byte(data), h, &c)
		if !ok {
			return
		}
		want, wantAt, head, wantOK := parseLiteFrom(data, 0)
		if !wantOK || head != h || c != want || at != wantAt {
			t.Fatalf("fixedChunk(%q) = %+v %d; the full parse %+v %d %v, head %d (firstHead %d)", data, c, at, want, wantAt, wantOK, head, h)
		}
	})
}

// After a stream's first chunk, a role chunk with content, the token
// chunks that follow without the role (and OpenAI's refusal) are of the
// recorded shape: the first token is read by the shape (and the token
// path) too (on the old code the role chunk recorded its own shape, which
// the next missed). Ollama's, which repeat the role, miss it once. Each
// stream's events are the full parse's.
func TestRoleChunkExpectsTokens(t *testing.T) {
	for _, c := range []struct {
		first, role string
		viaShape    bool
	}{
		{fixedForms[18], `"role":"assistant","content":"Runnel"`, true},
		{fixedForms[0], `"role":"assistant","content":"","refusal":null`, true},
		{fixedForms[13], `"role":"assistant","content":"Hello"`, false},
		// Parsed in full (not a fixed form): the shape keeps what else
		// the chunk carries, and its tokens are not plain.
		{`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"a","reasoning_content":"r"},"finish_reason":null}]}`, `"role":"assistant","content":"a"`, true},
	} {
		next := strings.Replace(c.first, c.role, `"content":" streams"`, 1)
		if !c.viaShape {
			next = strings.Replace(c.first, c.role, `"role":"assistant","content":" streams"`, 1)
		}
		var sh chunkShape
		if _, ok := parseLiteFull([]byte(c.first), &sh); !ok {
			t.Fatalf("%s: not parsed", c.first)
		}
		text, ok := sh.content([]byte(next))
		plain := !strings.Contains(c.first, "reasoning")
		if ok != c.viaShape || ok && (text != " streams" || sh.plain != plain) {
			t.Errorf("%s then %s: the shape's %q %v, want %v", c.first, next, text, ok, c.viaShape)
		}
		body := "data: " + c.first + "\n\ndata: " + next + "\n\ndata: " + next + "\n\ndata: [DONE]\n\n"
		if shaped, full := upstreamEvents(body, parseShaped, false), upstreamEvents(body, parseJSON, false); !slices.Equal(shaped, full) {
			t.Errorf("%s: with the shape %q, encoding/json %q", body, shaped, full)
		}
		if tokens := tokenEvents(t, body, false, nil); !slices.Equal(tokens, upstreamEvents(body, parseJSON, false)) {
			t.Errorf("%s: through the token path %q", body, tokens)
		}
	}
}
