package openai

import (
	"bytes"
	"testing"

	"github.com/runnel/runnel/stream"
)

// FuzzEncoderOneLine: whatever the id, model, text and tool call, the
// chunks the encoder writes without the upstream's raw logprobs hold no
// line break, so the server may send them with sse.Writer.SendLine.
func FuzzEncoderOneLine(f *testing.F) {
	f.Add("chatcmpl-1", "openai/m", "a\nb\r\u2028", "id\n", "f\r", "{\"x\":\n1}", false, 3)
	f.Fuzz(func(t *testing.T, id, model, text, callID, name, args string, legacy bool, n int) {
		enc := newChunkEncoder(id, model, int64(n), legacy)
		u := &stream.Usage{PromptTokens: n, CompletionTokens: n, GenerationDuration: 1e6, PromptDuration: 3}
		// Each chunk is checked before the next: they share one buffer.
		check := func(b []byte) {
			if bytes.ContainsAny(b, "\r\n") {
				t.Fatalf("line break in %q", b)
			}
		}
		check(enc.Delta(stream.Output, text, ""))
		check(enc.Delta(stream.Thinking, text, ""))
		check(enc.ToolCall(&stream.ToolCallDelta{Index: n, ID: callID, Name: name, Arguments: args}))
		check(enc.Finish("stop", u))
		check(enc.Usage(u))
	})
}
