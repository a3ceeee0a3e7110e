package template

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/stream"
)

// BenchmarkRender renders a four-turn chat with Qwen 2.5's template (the
// shared set's, else the ChatML of the tests), guarding its control tokens:
// the cost a templated chat request adds before tokenization.
func BenchmarkRender(b *testing.B) {
	src := chatML
	if root := os.Getenv("RUNNEL_SHARED"); root != "" {
		if s, err := os.ReadFile(filepath.Join(root, "testdata/templates/Qwen-Qwen2.5-7B-Instruct.jinja")); err == nil {
			src = string(s)
		}
	}
	tm, err := Parse(src, "", "<|endoftext|>")
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Messages: []stream.Message{
		{Role: "system", Content: "You are a helpful assistant."},
		{Role: "user", Content: "Once upon a time, there was a little girl named Lily. What happened next?"},
		{Role: "assistant", Content: "She went to the park with her friends Tom, Zoë and Max, and they played all day."},
		{Role: "user", Content: "And then?"},
	}, AddGenerationPrompt: true}
	p, err := tm.Render(in, chatMLSpecials)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p.Text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Render(in, chatMLSpecials); err != nil {
			b.Fatal(err)
		}
	}
}
