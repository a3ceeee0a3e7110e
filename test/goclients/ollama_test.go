package goclients

// Drives a live `runnel serve` with Ollama's own Go client,
// github.com/ollama/ollama/api, against the mock provider.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"github.com/runnel/runnel/test/goclients/harness"
)

func ollamaClient(t *testing.T) *api.Client {
	t.Helper()
	base, err := url.Parse(harness.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClient(base, http.DefaultClient)
}

func TestOllamaGoChatStream(t *testing.T) {
	c := ollamaClient(t)
	var (
		parts    []string
		thinking strings.Builder
		last     api.ChatResponse
	)
	err := c.Chat(context.Background(), &api.ChatRequest{
		Model:    "mock/default?text=Hello%20world%20from%20Runnel&think=2",
		Messages: []api.Message{{Role: "user", Content: "Say hello"}},
		Think:    &api.ThinkValue{Value: true},
	}, func(r api.ChatResponse) error {
		if r.Message.Content != "" {
			parts = append(parts, r.Message.Content)
		}
		thinking.WriteString(r.Message.Thinking)
		last = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(parts, "|"); got != "Hello| world| from| Runnel" {
		t.Errorf("parts %q", got)
	}
	if thinking.String() != "Let me" {
		t.Errorf("thinking %q", thinking.String())
	}
	if !last.Done || last.DoneReason != "stop" || last.PromptEvalCount != 2 || last.EvalCount != 6 || last.TotalDuration <= 0 {
		t.Errorf("final %+v", last)
	}
}

func TestOllamaGoGenerate(t *testing.T) {
	c := ollamaClient(t)
	stream := false
	var got api.GenerateResponse
	err := c.Generate(context.Background(), &api.GenerateRequest{
		Model: "mock/default?text=Hello%20world%20from%20Runnel", Prompt: "Say hello", Stream: &stream,
		Options: map[string]any{"num_predict": 3},
	}, func(r api.GenerateResponse) error { got = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.Response != "Hello world from" || got.DoneReason != "length" || got.EvalCount != 3 || got.PromptEvalCount != 2 {
		t.Errorf("response %+v", got)
	}
}

func TestOllamaGoErrors(t *testing.T) {
	c := ollamaClient(t)
	err := c.Chat(context.Background(), &api.ChatRequest{
		Model: "mock/default?status=404", Messages: []api.Message{{Role: "user", Content: "hi"}},
	}, func(api.ChatResponse) error { return nil })
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || !strings.Contains(se.ErrorMessage, "404 Not Found") {
		t.Errorf("unknown model: %#v", err)
	}
	var parts []string
	err = c.Chat(context.Background(), &api.ChatRequest{
		Model: "mock/default?text=Hello%20world%20from%20Runnel&error_after=2", Messages: []api.Message{{Role: "user", Content: "hi"}},
	}, func(r api.ChatResponse) error { parts = append(parts, r.Message.Content); return nil })
	if err == nil || !strings.Contains(err.Error(), "mock") || strings.Join(parts, "") != "Hello world" {
		t.Errorf("mid-stream error: %v after %q", err, parts)
	}
	v, err := c.Version(context.Background())
	if err != nil || v == "" {
		t.Errorf("version %q %v", v, err)
	}
}
