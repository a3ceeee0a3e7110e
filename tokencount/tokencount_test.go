package tokencount

import (
	"fmt"
	"testing"
)

type fixed int

func (f fixed) Count(model, text string) int { return int(f) }

func TestCount(t *testing.T) {
	c := Counter{Fallback: fixed(42)}
	for _, tt := range []struct {
		model, text string
		want        int
	}{
		// Reference counts from OpenAI's tiktoken.
		{"gpt-4", "tiktoken is great!", 6},
		{"openai/gpt-3.5-turbo", "hello world", 2},
		{"gpt-4o-mini", "hello world", 2},
		{"gpt-4o", "", 0},
		{"llama3", "hello world", 42},
		{"mock/default", "x", 42},
	} {
		if got := c.Count(tt.model, tt.text); got != tt.want {
			t.Errorf("Count(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
		}
	}
}

func TestIDs(t *testing.T) {
	// Token ids pin the exact ranks: cl100k_base and o200k_base.
	for _, tt := range []struct{ model, want string }{
		{"gpt-4", "[15339 1917]"},
		{"gpt-4o", "[24912 2375]"},
	} {
		ids, _, err := codec(tt.model).Encode("hello world")
		if err != nil || fmt.Sprint(ids) != tt.want {
			t.Errorf("%s: %v %v, want %s", tt.model, ids, err, tt.want)
		}
	}
	for model, want := range map[string]string{"o3-mini": "o200k_base", "OpenAI/GPT-4-turbo": "cl100k_base", "claude-3": ""} {
		if got := Encoding(model); got != want {
			t.Errorf("Encoding(%q) = %q, want %q", model, got, want)
		}
	}
}

func BenchmarkCount(b *testing.B) {
	c := Counter{}
	text := "Runnel streams every token the moment it exists. A slow reader pauses the producer."
	c.Count("gpt-4o", text)
	b.ResetTimer()
	for range b.N {
		c.Count("gpt-4o", text)
	}
}
