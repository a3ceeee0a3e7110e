package goclients

// Drives /v1/chat/completions of a live `runnel serve` with
// github.com/sashabaranov/go-openai. That client splits lines on "\n" only
// and fails a stream after 300 non-data lines between two events, so the
// keep-alive comments Runnel sends during a silence must stay under that.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/runnel/runnel/test/goclients/harness"
)

func goOpenAI(t *testing.T, args ...string) *goopenai.Client {
	t.Helper()
	cfg := goopenai.DefaultConfig("test-key")
	cfg.BaseURL = harness.Start(t, args...) + "/v1"
	return goopenai.NewClientWithConfig(cfg)
}

func TestGoOpenAIStream(t *testing.T) {
	c := goOpenAI(t)
	s, err := c.CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model:         "mock/default?text=Hello%20world%20from%20Runnel",
		Messages:      []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello"}},
		Stream:        true,
		StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var (
		parts  []string
		finish goopenai.FinishReason
		usage  *goopenai.Usage
	)
	for {
		r, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Usage != nil {
			usage = r.Usage
		}
		for _, ch := range r.Choices {
			if ch.Delta.Content != "" {
				parts = append(parts, ch.Delta.Content)
			}
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	if got := strings.Join(parts, "|"); got != "Hello| world| from| Runnel" {
		t.Errorf("parts %q", got)
	}
	if finish != goopenai.FinishReasonStop || usage == nil || usage.PromptTokens != 2 || usage.CompletionTokens != 4 || usage.TotalTokens != 6 {
		t.Errorf("finish %q usage %+v", finish, usage)
	}
}

// TestGoOpenAIKeepAlives has the server send a keep-alive every
// millisecond while the mock waits 100 ms for its first token: at most 100
// comments (200 lines) in that silence, which go-openai must take.
func TestGoOpenAIKeepAlives(t *testing.T) {
	c := goOpenAI(t, "--keep-alive", "1ms")
	s, err := c.CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model:    "mock/default?text=Hello%20world&ttft=100ms&itl=20ms",
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello"}},
		Stream:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	for {
		r, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %q: %v", text.String(), err)
		}
		for _, ch := range r.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	if text.String() != "Hello world" {
		t.Errorf("text %q", text.String())
	}
}

func TestGoOpenAIErrors(t *testing.T) {
	c := goOpenAI(t)
	_, err := c.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "mock/default?status=404", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}},
	})
	var apiErr *goopenai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusNotFound {
		t.Errorf("unknown model: %#v", err)
	}
	s, err := c.CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: "mock/default?text=Hello%20world%20from%20Runnel&error_after=2", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}}, Stream: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	for {
		r, err := s.Recv()
		if err != nil {
			if err == io.EOF || text.String() != "Hello world" {
				t.Errorf("stream ended with %v after %q; want an error after \"Hello world\"", err, text.String())
			}
			break
		}
		for _, ch := range r.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
}
