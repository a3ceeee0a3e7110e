package openai

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// FuzzEncoderOneLine: whatever the id, model, text and tool call, the
// chunks the encoder writes without the upstream's raw logprobs hold no
// line break, so the server may send them with sse.Writer.SendAppend.
func FuzzEncoderOneLine(f *testing.F) {
	f.Add("chatcmpl-1", "openai/m", "a\nb\r\u2028", "id\n", "f\r", "{\"x\":\n1}", false, 3)
	f.Fuzz(func(t *testing.T, id, model, text, callID, name, args string, legacy bool, n int) {
		enc := newChunkEncoder(id, model, int64(n), legacy)
		u := &stream.Usage{PromptTokens: n, CompletionTokens: n, GenerationDuration: 1e6, PromptDuration: 3}
		check := func(b []byte) {
			if bytes.ContainsAny(b, "\r\n") {
				t.Fatalf("line break in %q", b)
			}
		}
		check(enc.AppendDelta(nil, stream.Output, text, ""))
		check(enc.AppendDelta(nil, stream.Thinking, text, ""))
		check(enc.AppendToolCall(nil, &stream.ToolCallDelta{Index: n, ID: callID, Name: name, Arguments: args}))
		check(enc.AppendFinish(nil, "stop", u))
		check(enc.AppendUsage(nil, u))
	})
}

// FuzzEncoderTokenChunk holds AppendDelta's chat token chunk (one copy of
// the chunk's start) to the chunk open, the content key and close build.
func FuzzEncoderTokenChunk(f *testing.F) {
	f.Add("chatcmpl-1", "openai/m", " token", "x", 3, 0)
	f.Add("i\"d", "m\u2028", "a\nb\"", "", -1, 2)
	f.Fuzz(func(t *testing.T, id, model, text, lp string, created int, ch int) {
		channel := []stream.Channel{stream.Output, "", stream.Thinking}[uint(ch)%3]
		enc := newChunkEncoder(id, model, int64(created), false)
		ref := newChunkEncoder(id, model, int64(created), false)
		ref.lines = nil // the general path only
		for range 3 {   // the role's chunk, then tokens'
			got := string(enc.AppendDelta([]byte("x"), channel, text, stream.Logprobs(lp)))
			want := string(ref.AppendDelta([]byte("x"), channel, text, stream.Logprobs(lp)))
			if got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		}
	})
}

// FuzzEncoderPrefixedID holds the server's encoder (the id's prefix
// written apart, head and content in one buffer) to one made for the
// whole id string: every chunk the same bytes.
func FuzzEncoderPrefixedID(f *testing.F) {
	f.Add("chatcmpl-", "abc", "m", " tok", 3, false)
	f.Add("chatcmpl-", "chatcmpl-abc", "m", "t", 1, false)
	f.Add("cmpl-", "i\"d\u2028\x01", "m\"", "a\nb", -5, true)
	f.Add("chatcmpl-", "", "", "", 0, false)
	f.Fuzz(func(t *testing.T, prefix, id, model, text string, created int, legacy bool) {
		if strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			t.Skip() // the prefixes are constants of letters and '-'
		}
		enc := newChunkEncoderFor(prefix, id, model, int64(created), legacy)
		ref := newChunkEncoder(withPrefix(prefix, id), model, int64(created), legacy)
		u := &stream.Usage{PromptTokens: 1, CompletionTokens: 2}
		for range 3 { // the role's chunk, then tokens'
			if got, want := enc.AppendDelta(nil, stream.Output, text, ""), ref.AppendDelta(nil, stream.Output, text, ""); !bytes.Equal(got, want) {
				t.Fatalf("delta: got %s, want %s", got, want)
			}
		}
		if got, want := enc.AppendFinish(nil, "stop", u), ref.AppendFinish(nil, "stop", u); !bytes.Equal(got, want) {
			t.Fatalf("finish: got %s, want %s", got, want)
		}
		if got, want := enc.AppendUsage(nil, u), ref.AppendUsage(nil, u); !bytes.Equal(got, want) {
			t.Fatalf("usage: got %s, want %s", got, want)
		}
	})
}

// A chat encoder is one allocation for a call's id and a model name of
// up to 60 bytes (its head in the encoder), two for a longer name, and
// its chunks name the id and model either way.
func TestChunkEncoderAllocations(t *testing.T) {
	id := "call_0123456789abcdef01234567"
	for _, c := range []struct {
		model  string
		allocs float64
	}{{"", 1}, {"openai/default", 1}, {strings.Repeat("m", 60), 1}, {strings.Repeat("m", 61), 2}, {strings.Repeat("m", 300), 2}} {
		var enc *chunkEncoder
		if n := testing.AllocsPerRun(100, func() { enc = newChunkEncoderFor("chatcmpl-", id, c.model, 7, false) }); n != c.allocs {
			t.Errorf("model of %d bytes: %.0f allocations, want %.0f", len(c.model), n, c.allocs)
		}
		var chunk struct{ ID, Object, Model string }
		for range 2 { // the role's chunk, then a token's
			b := enc.AppendDelta(nil, stream.Output, "x", "")
			if err := json.Unmarshal(b, &chunk); err != nil || chunk.ID != "chatcmpl-"+id || chunk.Model != c.model || chunk.Object != "chat.completion.chunk" {
				t.Errorf("model of %d bytes: chunk %s (%v)", len(c.model), b, err)
			}
		}
	}
}
