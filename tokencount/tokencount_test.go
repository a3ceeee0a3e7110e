package tokencount

import (
	"fmt"
	"strings"
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

// encodingByPrefixes is Encoding without its first-byte check: every name
// lowered and held to each prefix.
func encodingByPrefixes(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	model = strings.ToLower(model)
	for _, p := range o200kPrefixes {
		if strings.HasPrefix(model, p) {
			return "o200k_base"
		}
	}
	for _, p := range cl100kPrefixes {
		if strings.HasPrefix(model, p) {
			return "cl100k_base"
		}
	}
	return ""
}

// FuzzEncoding: Encoding's early answer for names that cannot match is
// the answer of every prefix tried.
func FuzzEncoding(f *testing.F) {
	for _, m := range []string{"gpt-4o", "openai/GPT-4", "O3-mini", "Chatgpt-4o", "Text-Embedding-3", "default",
		"anthropic/claude", "", "x/", "\u212a", "\u0130", "gpt-3.5-turbo", "gpt-35", "ollama/llama3"} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, model string) {
		if got, want := Encoding(model), encodingByPrefixes(model); got != want {
			t.Fatalf("Encoding(%q) = %q, want %q", model, got, want)
		}
	})
}
