package goclients

// Drives a live `runnel serve` with the official Go SDK,
// github.com/openai/openai-go, against the mock provider, whose output is a
// pure function of its knobs: the text, usage and finish are exact.

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/runnel/runnel/test/goclients/harness"
)

// openaiClient starts a server whose bare model names go to the built-in
// engine with an empty models directory, so that a name no provider knows is
// a 404; mock/... names route to the mock.
func openaiClient(t *testing.T) openai.Client {
	t.Helper()
	base := harness.Start(t, "--models-dir", t.TempDir())
	return openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("test-key"), option.WithMaxRetries(0))
}

func TestOpenAIGoStreamWithUsage(t *testing.T) {
	client := openaiClient(t)
	ctx := context.Background()
	s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "mock/default?text=Hello%20world%20from%20Runnel",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer s.Close()
	var (
		acc      openai.ChatCompletionAccumulator
		text     strings.Builder
		contents []string
		ids      = map[string]bool{}
		created  = map[int64]bool{}
		finish   string
		role     string
		usage    *openai.CompletionUsage
		chunks   int
	)
	for s.Next() {
		c := s.Current()
		acc.AddChunk(c)
		chunks++
		ids[c.ID], created[c.Created] = true, true
		if c.Object != "chat.completion.chunk" {
			t.Errorf("object = %q", c.Object)
		}
		if len(c.Choices) == 0 {
			if c.JSON.Usage.Valid() {
				u := c.Usage
				usage = &u
			}
			continue
		}
		ch := c.Choices[0]
		if chunks == 1 {
			role = ch.Delta.Role
		}
		if ch.Delta.Content != "" {
			text.WriteString(ch.Delta.Content)
			contents = append(contents, ch.Delta.Content)
		}
		if ch.FinishReason != "" {
			finish = ch.FinishReason
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got := text.String(); got != "Hello world from Runnel" {
		t.Errorf("text = %q", got)
	}
	if want := []string{"Hello", " world", " from", " Runnel"}; strings.Join(contents, "|") != strings.Join(want, "|") {
		t.Errorf("one chunk per token: got %q, want %q", contents, want)
	}
	if role != "assistant" || finish != "stop" {
		t.Errorf("first role %q, finish_reason %q", role, finish)
	}
	if len(ids) != 1 || len(created) != 1 {
		t.Errorf("id and created must be the same on every chunk: %v %v", ids, created)
	}
	if usage == nil || usage.PromptTokens != 2 || usage.CompletionTokens != 4 || usage.TotalTokens != 6 {
		t.Errorf("usage = %+v", usage)
	}
	if got := acc.Choices[0].Message.Content; got != "Hello world from Runnel" || acc.Usage.TotalTokens != 6 {
		t.Errorf("accumulated %q usage %+v", got, acc.Usage)
	}
}

func TestOpenAIGoNonStreamedAndLength(t *testing.T) {
	client := openaiClient(t)
	res, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:     "mock/default?text=one%20two%20three%20four",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief"), openai.UserMessage("Count")},
		MaxTokens: openai.Int(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) != 1 || res.Choices[0].Message.Content != "one two" || res.Choices[0].FinishReason != "length" {
		t.Fatalf("answer %+v", res.Choices)
	}
	if res.Usage.PromptTokens != 3 || res.Usage.CompletionTokens != 2 || res.Usage.TotalTokens != 5 || res.Object != "chat.completion" {
		t.Errorf("usage %+v object %q", res.Usage, res.Object)
	}
}

func TestOpenAIGoToolCall(t *testing.T) {
	client := openaiClient(t)
	s := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    `mock/default?text=Checking&tool=get_weather&tool_args=%7B%22city%22%3A%22Paris%22%7D`,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name: "get_weather", Parameters: openai.FunctionParameters{"type": "object"},
		})},
	})
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	ch := acc.Choices[0]
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 || ch.Message.Content != "Checking" {
		t.Fatalf("choice %+v", ch)
	}
	tc := ch.Message.ToolCalls[0]
	if tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"Paris"}` || tc.ID == "" {
		t.Errorf("tool call %+v", tc)
	}
}

func TestOpenAIGoErrors(t *testing.T) {
	client := openaiClient(t)
	ctx := context.Background()
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}

	// Unknown model: 404 before the stream starts.
	_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nosuchprovider/x", Messages: msgs})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" ||
		!strings.Contains(apiErr.Message, "nosuchprovider/x") {
		t.Errorf("unknown model: %v", err)
	}

	// Bad input: 400 naming the field.
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock/default", Messages: msgs, Temperature: openai.Float(3)})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "temperature" || apiErr.Type != "invalid_request_error" {
		t.Errorf("bad temperature: %v", err)
	}

	// Mid-stream error: the SDK reports it from Err after the text so far.
	s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "mock/default?text=a%20b%20c%20d%20e&error_after=3", Messages: msgs,
	})
	defer s.Close()
	var text strings.Builder
	for s.Next() {
		if c := s.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if text.String() != "a b c" {
		t.Errorf("text before the error = %q", text.String())
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "injected upstream error after 3 tokens") {
		t.Errorf("mid-stream error not reported: %v", err)
	}
}

func TestOpenAIGoCompletionsAndModels(t *testing.T) {
	client := openaiClient(t)
	ctx := context.Background()
	s := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
		Model:         "mock/default?text=Once%20upon%20a%20time",
		Prompt:        openai.CompletionNewParamsPromptUnion{OfString: openai.String("Tell a story")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer s.Close()
	var (
		text   strings.Builder
		finish string
		usage  openai.CompletionUsage
	)
	for s.Next() {
		c := s.Current()
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Text)
			if c.Choices[0].FinishReason != "" {
				finish = string(c.Choices[0].FinishReason)
			}
		} else {
			usage = c.Usage
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Once upon a time" || finish != "stop" || usage.PromptTokens != 3 || usage.CompletionTokens != 4 {
		t.Errorf("text %q finish %q usage %+v", text.String(), finish, usage)
	}

	page, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range page.Data {
		found = found || m.ID == "mock/default"
	}
	if !found {
		t.Errorf("models %+v lack mock/default", page.Data)
	}
}
