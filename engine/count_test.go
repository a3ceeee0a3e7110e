package engine

import (
	"context"
	"testing"

	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/stream"
)

// CountTokens loads the model if it must and answers the prompt tokens a
// call then reports: the templated model's count (template, BOS), a plain
// one's, and an answer begun counted as output, as the usage counts it.
func TestCountTokensIsTheUsage(t *testing.T) {
	dir := t.TempDir()
	storiesGGUF(t, dir, "tmpl", map[string]any{
		"tokenizer.chat_template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
	})
	e := newEngine(t, Options{ModelsDir: dir})
	for _, req := range []*stream.Request{
		{Model: "tmpl", Messages: []stream.Message{{Role: "system", Content: "Be kind."}, {Role: "user", Content: "Tell a story."}}},
		{Model: "tmpl", Messages: []stream.Message{{Role: "user", Content: "Tell a story."}, {Role: "assistant", Content: "Once upon"}}},
		{Model: "tmpl", Prompt: testmodels.GreedyPrompt, RawPrompt: true},
	} {
		n, err := e.CountTokens(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		req.Sampling = stream.Sampling{Temperature: ptr(0.0), MaxTokens: 3}
		res := collect(t, e, req)
		if res.Err != nil || n != res.Usage.PromptTokens || n == 0 {
			t.Errorf("%+v: counted %d, the call reports %d prompt tokens (%v)", req.Messages, n, res.Usage.PromptTokens, res.Err)
		}
	}
	if _, err := e.CountTokens(context.Background(), &stream.Request{Model: "nope", Prompt: "x"}); stream.AsError(err).Code != stream.CodeNotFound {
		t.Errorf("an unknown model: %v, want not found", err)
	}
}

// A model not loaded yet is loaded by a count (CountPrompt never loads).
func TestCountTokensLoads(t *testing.T) {
	e := newEngine(t, Options{})
	req := chat(testmodels.GreedyPrompt, stream.Sampling{})
	if _, ok := e.CountPrompt("stories260K", req); ok {
		t.Fatal("CountPrompt counted with the model not loaded")
	}
	n, err := e.CountTokens(context.Background(), req)
	if err != nil || n == 0 {
		t.Fatalf("CountTokens = %d, %v", n, err)
	}
	if c, ok := e.CountPrompt("stories260K", req); !ok || c != n {
		t.Fatalf("after the count, CountPrompt = %d %v, want %d", c, ok, n)
	}
}
