package main

import (
	"strings"
	"testing"
)

// A stop sequence ends a call in every dialect; only Anthropic names it,
// the others report a plain stop.
func TestStopSequenceAcrossDialects(t *testing.T) {
	ts := serveTest(t, accountOptions{}, nil)
	const model = `"mock/default?text=one%20two%20END%20three"`
	msgs := `"messages":[{"role":"user","content":"count"}]`
	for _, tt := range []struct{ name, path, body, want string }{
		{"openai", "/v1/chat/completions", `{"model":` + model + `,"stop":["END"],` + msgs + `}`, `"content":"one two ","refusal":null},"finish_reason":"stop"`},
		{"openai streamed", "/v1/chat/completions", `{"model":` + model + `,"stream":true,"stop":"END",` + msgs + `}`, `"delta":{},"logprobs":null,"finish_reason":"stop"`},
		{"ollama", "/api/chat", `{"model":` + model + `,"stream":false,"options":{"stop":["END"]},` + msgs + `}`, `"done_reason":"stop"`},
		{"anthropic", "/v1/messages", `{"model":` + model + `,"max_tokens":50,"stop_sequences":["END"],` + msgs + `}`, `"stop_reason":"stop_sequence","stop_sequence":"END"`},
		{"anthropic streamed", "/v1/messages", `{"model":` + model + `,"max_tokens":50,"stream":true,"stop_sequences":["END"],` + msgs + `}`, `"delta":{"stop_reason":"stop_sequence","stop_sequence":"END"}`},
	} {
		status, body := do(t, "POST", ts.URL+tt.path, "", tt.body)
		if status != 200 || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s\nwant it to contain %s", tt.name, status, body, tt.want)
		}
	}
}
