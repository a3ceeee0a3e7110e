package openai

import (
	"bytes"
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
