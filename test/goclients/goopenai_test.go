package goclients

// Drives a live `runnel serve` with github.com/sashabaranov/go-openai against
// the mock provider, whose output is a pure function of its knobs: the text,
// usage and finish are exact.
//
// go-openai reads a stream line by line (split on "\n" only) and counts every
// line that is not `data:` towards EmptyMessagesLimit between two data lines,
// failing with ErrTooManyEmptyStreamMessages beyond it; it also keeps every
// such line to parse as the error body. Runnel's keep-alive comments, `id:`
// lines and blank separators all count, so these tests run with many of them.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/runnel/runnel/test/goclients/harness"
)

func goOpenAIClient(t *testing.T, args ...string) (*openai.Client, string) {
	t.Helper()
	// An empty models directory makes the built-in engine the default
	// provider, so a name no provider knows is a 404, not a mock stream.
	base := harness.Start(t, append([]string{"--models-dir", t.TempDir()}, args...)...)
	cfg := openai.DefaultConfig("test-key")
	cfg.BaseURL = base + "/v1"
	return openai.NewClientWithConfig(cfg), base
}

// goOpenAIClientEnv is goOpenAIClient for a server with extra environment.
func goOpenAIClientEnv(t *testing.T, env []string) *openai.Client {
	t.Helper()
	srv := harness.StartServer(t, env, "--models-dir", t.TempDir())
	cfg := openai.DefaultConfig("test-key")
	cfg.BaseURL = srv.BaseURL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

// goOpenAIStream reads a whole stream, returning the content deltas, the
// finish reason, the usage chunk's usage and Recv's final error (nil at a
// clean io.EOF).
func goOpenAIStream(t *testing.T, s *openai.ChatCompletionStream) (contents []string, finish openai.FinishReason, usage *openai.Usage, err error) {
	t.Helper()
	ids := map[string]bool{}
	for {
		c, rerr := s.Recv()
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
		ids[c.ID] = true
		if c.Object != "chat.completion.chunk" {
			t.Errorf("object = %q", c.Object)
		}
		if c.Usage != nil {
			if usage != nil {
				t.Errorf("usage sent twice: %+v then %+v", *usage, *c.Usage)
			}
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				contents = append(contents, ch.Delta.Content)
			}
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	if len(ids) > 1 {
		t.Errorf("chunk ids differ: %v", ids)
	}
	return contents, finish, usage, err
}

func chatReq(model string) openai.ChatCompletionRequest {
	return openai.ChatCompletionRequest{
		Model:         model,
		Messages:      []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Say hello"}},
		Stream:        true,
		StreamOptions: &openai.StreamOptions{IncludeUsage: true},
	}
}

func TestGoOpenAIStreamWithUsage(t *testing.T) {
	client, _ := goOpenAIClient(t)
	s, err := client.CreateChatCompletionStream(context.Background(), chatReq("mock/default?text=Hello%20world%20from%20Runnel"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	contents, finish, usage, err := goOpenAIStream(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(contents, "|"), "Hello| world| from| Runnel"; got != want {
		t.Errorf("contents = %q, want %q", got, want)
	}
	if finish != openai.FinishReasonStop {
		t.Errorf("finish = %q, want stop", finish)
	}
	if usage == nil || usage.PromptTokens != 2 || usage.CompletionTokens != 4 || usage.TotalTokens != 6 {
		t.Errorf("usage = %+v, want 2+4=6", usage)
	}
}

func TestGoOpenAIMaxTokens(t *testing.T) {
	client, _ := goOpenAIClient(t)
	req := chatReq("mock/default?text=Hello%20world%20from%20Runnel")
	req.MaxCompletionTokens = 2
	s, err := client.CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	contents, finish, usage, err := goOpenAIStream(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(contents, ""); got != "Hello world" {
		t.Errorf("text = %q", got)
	}
	if finish != openai.FinishReasonLength {
		t.Errorf("finish = %q, want length", finish)
	}
	if usage == nil || usage.CompletionTokens != 2 {
		t.Errorf("usage = %+v, want 2 completion tokens", usage)
	}
}

// thirtyWords is 30 mock tokens: "t1 t2 … t30".
func thirtyWords() string {
	w := make([]string, 30)
	for i := range w {
		w[i] = fmt.Sprintf("t%d", i+1)
	}
	return strings.Join(w, " ")
}

// A server sending keep-alives every 5ms while the model waits 60ms between
// tokens: a dozen comment lines (and their blank lines) between data lines,
// every one counted by go-openai. The stream must still complete exactly.
func TestGoOpenAIKeepAlives(t *testing.T) {
	client, base := goOpenAIClient(t, "--keep-alive", "5ms")
	text := thirtyWords()
	model := "mock/default?itl=60ms&tokens=30&text=" + strings.ReplaceAll(text, " ", "%20")

	// The same stream read raw: keep-alive comments do arrive between the
	// tokens, so the client below really has to skip them.
	body := `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	comments, data := 0, 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, ":"):
			comments++
		case strings.HasPrefix(line, "data:"):
			data++
		}
	}
	resp.Body.Close()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if comments == 0 || data != 30+2 { // 30 tokens, the finish chunk, [DONE]
		t.Fatalf("raw stream: %d comment lines, %d data lines; want some comments and 32 data lines", comments, data)
	}
	t.Logf("raw stream: %d keep-alive comments over 30 tokens", comments)

	s, err := client.CreateChatCompletionStream(context.Background(), chatReq(model))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	contents, finish, usage, err := goOpenAIStream(t, s)
	if err != nil {
		t.Fatalf("after %d tokens: %v", len(contents), err)
	}
	if got := strings.Join(contents, ""); got != text {
		t.Errorf("text = %q, want %q", got, text)
	}
	if len(contents) != 30 {
		t.Errorf("%d content chunks, want 30", len(contents))
	}
	if finish != openai.FinishReasonStop {
		t.Errorf("finish = %q, want stop", finish)
	}
	if usage == nil || usage.PromptTokens != 2 || usage.CompletionTokens != 30 || usage.TotalTokens != 32 {
		t.Errorf("usage = %+v, want 2+30=32", usage)
	}
}

// A keep-alive every millisecond through a 100ms wait for the first token:
// up to 100 comments and their blank lines in one silence, under go-openai's
// limit of 300 non-data lines between two events.
func TestGoOpenAIKeepAlivesBeforeFirstToken(t *testing.T) {
	client, _ := goOpenAIClient(t, "--keep-alive", "1ms")
	s, err := client.CreateChatCompletionStream(context.Background(), chatReq("mock/default?text=Hello%20world&ttft=100ms&itl=20ms"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	contents, finish, usage, err := goOpenAIStream(t, s)
	if err != nil {
		t.Fatalf("after %q: %v", contents, err)
	}
	if got := strings.Join(contents, "|"); got != "Hello| world" {
		t.Errorf("contents = %q", got)
	}
	if finish != openai.FinishReasonStop || usage == nil || usage.CompletionTokens != 2 {
		t.Errorf("finish %q, usage %+v", finish, usage)
	}
}

func TestGoOpenAIErrors(t *testing.T) {
	client, _ := goOpenAIClient(t)
	ctx := context.Background()

	// Unknown model: an *APIError with the server's status, code and message.
	_, err := client.CreateChatCompletionStream(ctx, chatReq("nosuchprovider/nosuchmodel"))
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Code != "model_not_found" ||
		apiErr.Param == nil || *apiErr.Param != "model" || !strings.Contains(apiErr.Message, "nosuchprovider/nosuchmodel") {
		t.Errorf("unknown model: %#v", err)
	}

	// An upstream failure after two tokens: the tokens, then Recv fails.
	// go-openai keeps every non-data line it read (Runnel's id: lines among
	// them) and parses them with the error's JSON, so it can read the
	// server's message only from a server that sends no ids, as OpenAI does
	// (RUNNEL_OPENAI_OMIT_EVENT_IDS=1); by default it still fails the stream.
	const failing = "mock/default?text=Hello%20world%20from%20Runnel&error_after=2"
	for _, tc := range []struct {
		name        string
		client      *openai.Client
		wantMessage bool
	}{
		{"with event ids", client, false},
		{"without event ids", goOpenAIClientEnv(t, []string{"RUNNEL_OPENAI_OMIT_EVENT_IDS=1"}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.client.CreateChatCompletionStream(ctx, chatReq(failing))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			contents, finish, usage, err := goOpenAIStream(t, s)
			if got := strings.Join(contents, "|"); got != "Hello| world" {
				t.Errorf("contents before the error = %q", got)
			}
			if err == nil || finish != "" || usage != nil {
				t.Fatalf("stream ended with err %v, finish %q, usage %+v; want an error and neither", err, finish, usage)
			}
			if tc.wantMessage {
				var apiErr *openai.APIError
				if !errors.As(err, &apiErr) || apiErr.Code != "upstream_error" || !strings.Contains(apiErr.Message, "injected upstream error after 2 tokens") {
					t.Errorf("mid-stream error: %#v", err)
				}
			}
		})
	}
}

// Keep-alive comments before a mid-stream error: go-openai parses every
// non-data line it kept together with the error's JSON, so it cannot read
// the server's message then (a limitation of the client, which expects
// OpenAI's comment-free streams), but it must still fail the stream after
// the tokens so far rather than end it as if complete.
func TestGoOpenAIErrorAfterKeepAlives(t *testing.T) {
	client, _ := goOpenAIClient(t, "--keep-alive", "5ms")
	s, err := client.CreateChatCompletionStream(context.Background(), chatReq("mock/default?text=Hello%20world%20from%20Runnel&itl=40ms&error_after=3"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	contents, finish, usage, err := goOpenAIStream(t, s)
	if got := strings.Join(contents, "|"); got != "Hello| world| from" {
		t.Errorf("contents before the error = %q", got)
	}
	if err == nil || finish != "" || usage != nil {
		t.Errorf("stream ended with err %v, finish %q, usage %+v; want an error and neither", err, finish, usage)
	}
}
