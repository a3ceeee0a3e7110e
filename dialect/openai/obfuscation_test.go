package openai

import (
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/mock"
)

// openAIStream is a real OpenAI chat stream with include_usage (its
// role, token, finish and usage chunks), with texts as its tokens.
func openAIStream(texts ...string) string {
	const head = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":`
	var sb strings.Builder
	sb.WriteString("data: " + head + `[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for _, text := range texts {
		sb.WriteString("data: " + head + `[{"index":0,"delta":{"content":"` + text + `"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	}
	sb.WriteString("data: " + head + `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	sb.WriteString("data: " + head + `[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}` + "\n\n")
	sb.WriteString("data: [DONE]\n\n")
	return sb.String()
}

// TestObfuscatedChunks: OpenAI's chunks with their obfuscation member
// (random padding, another on every chunk, as the API sends them by
// default) take the token path, and the client gets the same bytes and
// the call the same record as without the member; with the token path
// and without (TokenPaths). On the old code no token of them took it.
func TestObfuscatedChunks(t *testing.T) {
	texts := []string{"Hello", ",", " world", `\"q\"`, " \\u00e9", "!", " And", " more", "."}
	plain := openAIStream(texts...)
	c := tokenPathCase(tokenPathChat)
	wantBody, wantRec, _ := dialecttest.ServeTokens(t, c, plain)
	for seed := range uint64(8) {
		up := string(mock.Obfuscate([]byte(plain), seed))
		if !strings.Contains(up, `],"usage":null,"obfuscation":"`) {
			t.Fatalf("not obfuscated: %q", up)
		}
		body, rec, used := dialecttest.ServeTokens(t, c, up)
		if !used {
			t.Error("no token took the token path")
		}
		if body != wantBody || rec != wantRec {
			t.Fatalf("upstream %q\ngot:\n%s\n%s\nwithout obfuscation:\n%s\n%s", up, body, rec, wantBody, wantRec)
		}
		dialecttest.TokenPaths(t, c, up)
		dialecttest.TokenPaths(t, c, dialecttest.Reframe(up, []byte{byte(seed)}))
	}
}
