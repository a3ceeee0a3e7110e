package openai

import (
	"encoding/json"
	"strings"
	"testing"
)

var liteSeeds = []string{
	`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`,
	`{"choices":[{"index":0,"delta":{"reasoning_content":"hm\n\"q\" \u00e9"},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{"reasoning":"r"}}]}`,
	`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	`{"choices":[{"index":0,"text":" two","logprobs":null,"finish_reason":"length"}]}`,
	`{"choices":[]}`,
	` { "choices" : [ { "delta" : { "content" : "a" } , "index" : 0 } ] , "x" : [1, -2.5e3, true, false, null, {"a":[]}] } `,
	`{"choices":[{"index":1,"delta":{"content":"a"}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0}]}}]}`,
	`{"Choices":[{"index":0,"delta":{"content":"a"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"bad\xffutf8"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"a","content":null}}]}`,
	`{"error":{"message":"x"}}`, `[]`, `null`, `{"choices":[{"index":0,"delta":{"content":"\x"}}]}`,
	`{"choices":[],"usage":{"prompt_tokens":1}}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":50,"total_tokens":62,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":7,"audio_tokens":0}}}`,
	`{"choices":[],"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
	`{"choices":[],"usage":{"prompt_tokens":1},"usage":null}`,
	`{"choices":[],"usage":{"completion_tokens_details":{"reasoning_tokens":3},"completion_tokens_details":null}}`,
	`{"choices":[],"usage":{"prompt_tokens":null,"completion_tokens":-0,"total_tokens":-5}}`,
	`{"choices":[],"usage":{"prompt_tokens":1.0}}`, `{"choices":[],"usage":{"prompt_tokens":1e2}}`,
	`{"choices":[],"usage":{"prompt_tokens":01}}`, `{"choices":[],"usage":{"prompt_tokens":"1"}}`,
	`{"choices":[],"usage":{"Prompt_Tokens":1}}`, `{"choices":[],"usage":{"prompt_tokens":123456789012345678901}}`,
}

// logprobsSeeds have logprobs parseLite would drop: it leaves them to
// encoding/json.
var logprobsSeeds = []string{
	`{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[]}],"refusal":null},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"text":" a","logprobs":{"tokens":[" a"],"token_logprobs":[-0.5],"top_logprobs":null,"text_offset":[0]}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"x"},"Logprobs":null}]}`,
}

func TestParseLite(t *testing.T) {
	c, ok := parseLite(liteSeeds[0])
	if !ok || c.content != "Hel" || c.hasFinish {
		t.Errorf("%+v %v", c, ok)
	}
	c, ok = parseLite(liteSeeds[2])
	if !ok || c.reasoningContent != "hm\n\"q\" é" {
		t.Errorf("%+v %v", c, ok)
	}
	c, ok = parseLite(liteSeeds[5])
	if !ok || c.text != " two" || c.finish != "length" || !c.hasFinish {
		t.Errorf("%+v %v", c, ok)
	}
	c, ok = parseLite(liteSeeds[18])
	if want := (liteUsage{has: true, hasDetails: true, prompt: 12, completion: 50, total: 62, reasoning: 7}); !ok || c.usage != want {
		t.Errorf("usage chunk: %+v %v", c, ok)
	}
	c, ok = parseLite(liteSeeds[19])
	if want := (liteUsage{has: true, prompt: 1, completion: 2}); !ok || c.usage != want {
		t.Errorf("repeated usage: %+v %v", c, ok)
	}
	for _, s := range append(append(liteSeeds[8:12:12], liteSeeds[23:]...), logprobsSeeds...) { // left to encoding/json
		if _, ok := parseLite(s); ok {
			t.Errorf("parseLite(%s) took a chunk it must leave to encoding/json", s)
		}
	}
}

// FuzzParseLite checks the fast path against encoding/json: whatever it
// accepts, encoding/json accepts too, with the same fields.
func FuzzParseLite(f *testing.F) {
	for _, s := range append(liteSeeds, logprobsSeeds...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, ok := parseLite(data)
		if !ok {
			return
		}
		var ch upstreamChunk
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("parseLite accepted %q, encoding/json says %v", data, err)
		}
		if ch.Error != nil || len(ch.Choices) > 1 {
			t.Fatalf("parseLite accepted %q with an error or choices %d", data, len(ch.Choices))
		}
		var want liteChunk
		if len(ch.Choices) == 1 {
			d := ch.Choices[0]
			if d.Index != 0 || len(d.Delta.ToolCalls) > 0 {
				t.Fatalf("parseLite accepted %q with index %d or tool calls", data, d.Index)
			}
			// It would drop them: logprobs are encoding/json's to keep.
			if lp := string(d.Logprobs); lp != "" && lp != "null" {
				t.Fatalf("parseLite accepted %q with logprobs %s", data, lp)
			}
			deref := func(p *string) string {
				if p == nil {
					return ""
				}
				return *p
			}
			want = liteChunk{content: deref(d.Delta.Content), reasoningContent: deref(d.Delta.ReasoningContent),
				reasoning: deref(d.Delta.Reasoning), text: d.Text, finish: deref(d.FinishReason), hasFinish: d.FinishReason != nil}
		}
		if u := ch.Usage; u != nil {
			want.usage = liteUsage{has: true, prompt: u.PromptTokens, completion: u.CompletionTokens, total: u.TotalTokens}
			if d := u.CompletionTokensDetails; d != nil {
				want.usage.hasDetails, want.usage.reasoning = true, d.ReasoningTokens
			}
		}
		if c != want {
			t.Fatalf("parseLite(%q) = %+v, encoding/json %+v", data, c, want)
		}
		// parseLiteBytes owns what it returns: the reader reuses the
		// buffer for the next event.
		buf := []byte(data)
		cb, ok := parseLiteBytes(buf, nil)
		for i := range buf {
			buf[i] = 'X'
		}
		if !ok || cb != want {
			t.Fatalf("parseLiteBytes(%q) = %+v after the buffer was reused, want %+v", data, cb, want)
		}
	})
}

// streamChunks are per-token chunks of one stream, as the mock upstream
// (and OpenAI) sends them.
var streamChunks = []string{
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"role":"assistant","content":"Runnel"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":" streams"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":" every"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":"\n\"q\" \u00e9 é"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":null},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":"stop"}]}`,
	`{"id":"chatcmpl-mock-882","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":" every"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":"a","content":"b"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":"a","content":null},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":"bad\x"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-881","object":"chat.completion.chunk","created":1796552236,"model":"default","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
}

// TestChunkShape: a stream's next chunk with the same bytes but for its
// content string is parsed from the last one's shape, to what a full
// parse gives; any other chunk is not.
func TestChunkShape(t *testing.T) {
	var sh chunkShape
	if _, ok := parseLiteBytes([]byte(streamChunks[1]), &sh); !ok || !sh.str.Has() {
		t.Fatalf("no shape recorded from %s", streamChunks[1])
	}
	for i, data := range streamChunks {
		c, fromShape := sh.parse([]byte(data))
		want, ok := parseLite(data)
		switch i {
		case 1, 2, 3, 4:
			if !fromShape || !ok || c != want {
				t.Errorf("%s: from the shape %v %+v, want %+v", data, fromShape, c, want)
			}
		default:
			if fromShape {
				t.Errorf("%s: parsed from the shape of %s", data, streamChunks[1])
			}
		}
	}
}

// FuzzChunkShape checks the shape's fast path against a full parse: a
// chunk it takes after another parses fully to the same fields.
func FuzzChunkShape(f *testing.F) {
	for i := range streamChunks {
		f.Add(streamChunks[1], streamChunks[i])
		f.Add(streamChunks[i], streamChunks[2])
	}
	for _, o := range obfuscatedChunks {
		f.Add(obfuscatedChunks[0].chunk, o.chunk)
	}
	f.Fuzz(func(t *testing.T, first, next string) {
		var sh chunkShape
		if _, ok := parseLiteBytes([]byte(first), &sh); !ok {
			return
		}
		buf := []byte(next)
		c, ok := sh.parse(buf)
		if !ok {
			return
		}
		want, wok := parseLite(next)
		if !wok || c != want {
			t.Fatalf("after %q, %q from the shape %+v; a full parse %+v, %v", first, next, c, want, wok)
		}
		for i := range buf {
			buf[i] = 'X'
		}
		if c != want {
			t.Fatalf("%q: %+v after the buffer was reused, want %+v", next, c, want)
		}
	})
}

// obfuscatedChunks follow the first, whose shape has OpenAI's
// obfuscation member: taken says the shape takes them.
var obfuscatedChunks = func() []struct {
	chunk string
	taken bool
} {
	c := func(content, rest string) string {
		return mockHead + `[{"index":0,"delta":{"content":"` + content + `"},"logprobs":null,"finish_reason":null}],"usage":null` + rest + `}`
	}
	return []struct {
		chunk string
		taken bool
	}{
		{c("a", `,"obfuscation":"Zx7"`), true},
		{c("b", `,"obfuscation":"q"`), true},
		{c(`\"e\" \u00e9`, `,"obfuscation":"0123456789abcdefghij"`), true},
		{c(`\",\"obfuscation\":\"`, `,"obfuscation":"w"`), true},
		{c(`","obfuscation":"`, `,"obfuscation":"w"`), false}, // a member of the delta
		{c("c", ``), true},
		{c("d", `,"obfuscation":""`), false},
		{c("e", `,"obfuscation":"a"b"`), false},
		{c("f", `,"obfuscation":"é"`), false},
		{c("g", `,"obfuscation":1`), false},
		{c("h", `,"obfuscatioN":"x"`), false},
		{c("i", `,"obfuscation":"x","obfuscation":"y"`), false},
		{c("j", `,"usage":null,"obfuscation":"x"`), false},
		{c("k", `,"obfuscation":"x" `), false},
		{c("l", `,"obfuscation":"x"}`), false},
		{mockHead + `[{"index":0,"delta":{"content":"m"},"logprobs":null,"finish_reason":null}],"obfuscation":"x"}`, false},
	}
}()

// TestChunkShapeObfuscation: a shape recorded from a chunk with OpenAI's
// obfuscation member takes chunks with any JSON-plain padding there, or
// none, each what a full parse makes of it, and leaves the others to
// the full parse.
func TestChunkShapeObfuscation(t *testing.T) {
	var sh chunkShape
	if _, ok := parseLiteBytes([]byte(obfuscatedChunks[0].chunk), &sh); !ok {
		t.Fatal("first chunk not parsed")
	}
	if _, tail := sh.str.Ends(); string(tail) != `"},"logprobs":null,"finish_reason":null}],"usage":null}` {
		t.Fatalf("tail %q", tail)
	}
	for _, o := range obfuscatedChunks {
		c, ok := sh.parse([]byte(o.chunk))
		want, wok := parseLite(o.chunk)
		if ok != o.taken || ok && (!wok || c != want) {
			t.Errorf("%s: %+v, %v; a full parse %+v, %v", o.chunk, c, ok, want, wok)
		}
	}
}

// TestChunkShapeKeepsTexts: the contents the shape returns share one
// buffer (chunkShape.texts, a dialect.Texts), so each must stay what it was while later
// chunks are parsed into the same event buffer, across the buffer's
// refills and beside contents too long for it.
func TestChunkShapeKeepsTexts(t *testing.T) {
	var sh chunkShape
	buf := make([]byte, 0, 512)
	var got, want []string
	for i := range 300 {
		text := strings.Repeat(string(rune('a'+i%26)), 1+i*7%90)
		buf = append(buf[:0], `{"id":"x","choices":[{"index":0,"delta":{"content":"`+text+`"},"finish_reason":null}]}`...)
		c, ok := parseLiteBytes(buf, &sh)
		if !ok || c.content != text {
			t.Fatalf("chunk %d: %q, %v; want %q", i, c.content, ok, text)
		}
		got, want = append(got, c.content), append(want, text)
	}
	if !sh.str.Has() {
		t.Fatal("no chunk went through the shape")
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("chunk %d's content became %q, want %q", i, got[i], want[i])
		}
	}
}

// BenchmarkParseLite is a stream's per-token chunks parsed by the fast
// path: each in full (first), or after the one before (stream, where the
// chunk's shape serves).
func BenchmarkParseLite(b *testing.B) {
	chunks := [][]byte{[]byte(streamChunks[1]), []byte(streamChunks[2])}
	for _, sh := range []struct {
		name  string
		shape *chunkShape
	}{{"first", nil}, {"stream", &chunkShape{}}} {
		b.Run(sh.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if c, ok := parseLiteBytes(chunks[i&1], sh.shape); !ok || c.content == "" {
					b.Fatal(c, ok)
				}
				i++
			}
		})
	}
}
