package anthropic_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/anthropic/anthropictest"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

func fake(t *testing.T, s *anthropictest.Server) *anthropic.Provider {
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return anthropic.NewProvider(anthropic.Config{BaseURL: ts.URL, APIKey: s.APIKey})
}

func chat(prefix *string, maxTokens int) *stream.Request {
	req := &stream.Request{Model: "claude-fake", Sampling: stream.Sampling{MaxTokens: maxTokens},
		Messages: []stream.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Tell me about the valley."}}}
	if prefix != nil {
		req.Messages = append(req.Messages, stream.Message{Role: "assistant", Content: *prefix})
	}
	return req
}

// lastMessage is the text of a request body's last message and its role.
func lastMessage(body map[string]any) (role, text string) {
	msgs, _ := body["messages"].([]any)
	if len(msgs) == 0 {
		return "", ""
	}
	m := msgs[len(msgs)-1].(map[string]any)
	role, _ = m["role"].(string)
	switch c := m["content"].(type) {
	case string:
		text = c
	case []any:
		for _, b := range c {
			s, _ := b.(map[string]any)["text"].(string)
			text += s
		}
	}
	return role, text
}

// An answer begun, cut anywhere between its tokens (or in the white space
// leading one), is continued into exactly the uninterrupted answer: the
// text (the trailing white space trimmed from the prefill is dropped again
// from the rest), the usage (the prompt without the prefix, the prefix's
// tokens among the output, as the API counts them: two counts, with and
// without it, whose difference also comes off max_tokens) and the finish.
// The fake writes each token from the whole text before it, so a prefix
// lost or repeated at the seam would change what follows; its counts carry
// tokens it does not bill, which the difference cancels.
func TestContinueAsUninterrupted(t *testing.T) {
	for _, srv := range []*anthropictest.Server{
		{APIKey: "sk-test"},
		{APIKey: "sk-test", Chunk: 3, CountExtra: 7},
	} {
		p := fake(t, srv)
		if !p.CanContinue("claude-fake") {
			t.Fatal("CanContinue = false")
		}
		c := dialecttest.Continuing{Provider: p, Chat: chat, Fake: &srv.Recorder}
		c.AsUninterrupted(t, anthropictest.DefaultLength, func(prefix string, reqs []dialecttest.Recorded) {
			// Two counts (in either order), then the prefilled request:
			// the trimmed prefix, max_tokens less its tokens.
			if len(reqs) != 3 || reqs[2].Path != "/v1/messages" {
				t.Fatalf("continued from %q with %d requests, want 2 counts and the messages: %v", prefix, len(reqs), reqs)
			}
			sent := strings.TrimRightFunc(prefix, unicode.IsSpace)
			k := mock.Count(sent)
			var withPrefix int
			for _, c := range reqs[:2] {
				if c.Path != "/v1/messages/count_tokens" || c.Body["max_tokens"] != nil || c.Body["stream"] != nil {
					t.Fatalf("a count: %s %v", c.Path, c.Body)
				}
				if role, text := lastMessage(c.Body); role == "assistant" && text == sent {
					withPrefix++
				}
			}
			role, text := lastMessage(reqs[2].Body)
			if withPrefix != 1 || role != "assistant" || text != sent || reqs[2].Body["max_tokens"] != float64(256-k) {
				t.Fatalf("continued from %q: counted %v, sent %v; want one count with the prefix %q, and it sent with max_tokens %d", prefix, reqs[:2], reqs[2].Body, sent, 256-k)
			}
		})
	}
}

// max_tokens bounds the whole answer, the part begun included (the
// request's, or else the provider's default); a prefix that has them all
// is answered without a generation, finished for length, with the
// prompt's tokens as counted.
func TestContinueMaxTokens(t *testing.T) {
	srv := &anthropictest.Server{}
	c := dialecttest.Continuing{Provider: fake(t, srv), Chat: chat, Fake: &srv.Recorder}
	c.MaxTokens(t, 2)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c.Provider = anthropic.NewProvider(anthropic.Config{BaseURL: ts.URL, MaxTokens: 12})
	c.Chat = func(prefix *string, _ int) *stream.Request { return chat(prefix, 0) }
	c.MaxTokens(t, 2)
}

// A completion's continuation keeps its prompt as the user turn; extended
// thinking is turned off (the API refuses it with a prefill); a prefix of
// white space only is not sent, nor counted, and not written twice.
func TestContinueCompletionAndThinking(t *testing.T) {
	srv := &anthropictest.Server{}
	p := fake(t, srv)
	req := &stream.Request{Model: "claude-fake", Prompt: "Once upon a time", RawPrompt: true, Thinking: true}
	completion := func(prefix *string, maxTokens int) *stream.Request {
		c := *req
		c.Sampling.MaxTokens = maxTokens
		if prefix != nil {
			c.Messages = []stream.Message{{Role: "assistant", Content: *prefix}}
		}
		return &c
	}
	c := dialecttest.Continuing{Provider: p, Chat: completion, Fake: &srv.Recorder}
	c.AsUninterrupted(t, anthropictest.DefaultLength, func(prefix string, reqs []dialecttest.Recorded) {
		last := reqs[len(reqs)-1].Body
		if msgs := last["messages"].([]any); len(msgs) != 2 || last["thinking"] != nil {
			t.Fatalf("continued from %q with %v", prefix, last)
		}
	})
	whole := dialecttest.Run(t, p, completion(nil, 256))
	before := len(srv.Requests())
	white := "\n\n"
	rest := dialecttest.Run(t, p, completion(&white, 256))
	reqs := srv.Requests()[before:]
	if rest.Text != whole.Text || rest.Usage != whole.Usage || len(reqs) != 1 || len(reqs[0].Body["messages"].([]any)) != 1 {
		t.Fatalf("a white-space prefix: %q %+v after %v; want %q, %+v from one request of the prompt alone", rest.Text, rest.Usage, reqs, whole.Text, whole.Usage)
	}
}

// Where count_tokens fails (a proxy without it), the continuation still
// goes on, its text exact; the prefix's tokens are the Counter's estimate,
// flagged so, max_tokens counts only the new ones, and the fallback is
// logged.
func TestContinueCountFails(t *testing.T) {
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))

	srv := &anthropictest.Server{NoCount: true}
	p := fake(t, srv)
	whole := dialecttest.Run(t, p, chat(nil, 256))
	i := strings.Index(whole.Text, "\n\n")
	prefix, sent := whole.Text[:i+2], whole.Text[:i] // cut in a blank line
	rest := dialecttest.Run(t, p, chat(&prefix, 256))
	n, k := mock.Count(sent), gateway.ApproxCounter{}.Count("claude-fake", sent)
	want := stream.Usage{PromptTokens: whole.Usage.PromptTokens + n - k, CompletionTokens: whole.Usage.CompletionTokens - n + k, Estimated: true}
	if prefix+rest.Text != whole.Text || rest.Usage != want {
		t.Fatalf("continued without counts: %q %+v; want the rest of %q, %+v", rest.Text, rest.Usage, whole.Text, want)
	}
	// The last messages request: a count cancelled by its sibling's
	// failure may reach the server after it.
	var last map[string]any
	for _, r := range srv.Requests() {
		if r.Path == "/v1/messages" {
			last = r.Body
		}
	}
	if last["max_tokens"] != float64(256) {
		t.Fatalf("sent %v; want max_tokens 256", last)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "estimated") || !strings.Contains(logs.String(), "Not Found") {
		t.Fatalf("the fallback was not logged: %q", logs.String())
	}
}

// A client gone while counting is an error, not a fallback: nothing is
// generated for it.
func TestContinueCancelledWhileCounting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var messages int
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/messages" {
			messages++
			return
		}
		io.Copy(io.Discard, r.Body) // so the server sees the client go
		cancel()
		<-r.Context().Done()
	}))
	defer ts.Close()
	p := anthropic.NewProvider(anthropic.Config{BaseURL: ts.URL})
	prefix := "Rain"
	_, err := p.Stream(ctx, chat(&prefix, 10))
	if se := stream.AsError(err); err == nil || se.Code != stream.CodeCancelled || messages != 0 {
		t.Fatalf("got %v (%d messages requests); want a cancelled error and no generation", err, messages)
	}
}

// A model that refuses a prefill (the API's 400) is not continued from
// then on: CanContinue turns false for it, and for it only.
func TestContinueRefused(t *testing.T) {
	srv := &anthropictest.Server{NoPrefill: true}
	p := fake(t, srv)
	if !p.CanContinue("claude-fake") {
		t.Fatal("CanContinue = false before any refusal")
	}
	prefix := "Rain"
	_, err := p.Stream(context.Background(), chat(&prefix, 10))
	if se := stream.AsError(err); err == nil || se.Code != stream.CodeInvalidRequest || !strings.Contains(se.Message, "prefill") {
		t.Fatalf("got %v; want the API's refusal", err)
	}
	if p.CanContinue("claude-fake") || !p.CanContinue("claude-other") {
		t.Fatal("CanContinue: want false for the model that refused, true for another")
	}
	// Other errors say nothing about prefills.
	srv.NoPrefill, srv.APIKey = false, "sk-test"
	ts := httptest.NewServer(srv)
	defer ts.Close()
	p = anthropic.NewProvider(anthropic.Config{BaseURL: ts.URL, APIKey: "sk-wrong"})
	if _, err := p.Stream(context.Background(), chat(&prefix, 10)); err == nil || !p.CanContinue("claude-fake") {
		t.Fatalf("after %v: CanContinue = false; want true", err)
	}
}

// BenchmarkContinue is a call continued from half its answer against one
// that writes as many tokens afresh, on the fake API over loopback: what
// the two counts before a continuation add (they go at once), besides
// what Anthropic spends on them.
func BenchmarkContinue(b *testing.B) {
	srv := &anthropictest.Server{Chunk: 3}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	p := anthropic.NewProvider(anthropic.Config{BaseURL: ts.URL})
	dialecttest.Continuing{Provider: p, Chat: chat, Fake: &srv.Recorder}.Bench(b, anthropictest.DefaultLength)
}
