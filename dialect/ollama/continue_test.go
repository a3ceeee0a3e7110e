package ollama_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/dialect/ollama/ollamatest"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// answer is what a stream carried: its text, usage and finish.
type answer struct {
	text   string
	usage  stream.Usage
	finish stream.FinishReason
}

func run(t *testing.T, p *ollama.Provider, req *stream.Request) answer {
	t.Helper()
	s, err := p.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res := stream.Collect(s)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	a := answer{text: res.Text, finish: res.Finish}
	if res.Usage != nil {
		a.usage = *res.Usage
		a.usage.PromptDuration, a.usage.GenerationDuration = 0, 0
	}
	return a
}

func fake(t *testing.T, s *ollamatest.Server) *ollama.Provider {
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ollama.NewProvider(ollama.Config{BaseURL: ts.URL})
}

func chat(prefix *string, maxTokens int) *stream.Request {
	req := &stream.Request{Model: "fake", Messages: []stream.Message{{Role: "user", Content: "Tell me about the valley."}},
		Sampling: stream.Sampling{MaxTokens: maxTokens}}
	if prefix != nil {
		req.Messages = append(req.Messages, stream.Message{Role: "assistant", Content: *prefix})
	}
	return req
}

// cuts returns where text may be cut between tokens, and, for each blank
// line it holds, inside it (after the white space of the token it leads:
// a prefix ending in white space).
func cuts(text string) []int {
	var at []int
	n := 0
	for _, tok := range mock.Tokens(text) {
		if strings.HasPrefix(tok, "\n\n") {
			at = append(at, n+2)
		}
		n += len(tok)
		at = append(at, n)
	}
	return at[:len(at)-1]
}

// An answer begun, cut anywhere between its tokens (or in the white space
// leading one), is continued by Ollama into exactly the uninterrupted
// answer: the text, the usage (the prompt without the prefix, the
// prefix's tokens among the completion's, as Ollama counts them) and the
// finish. The fake writes each token from the whole text before it, so a
// prefix lost or repeated at the seam would change what follows.
func TestContinueAsUninterrupted(t *testing.T) {
	srv := &ollamatest.Server{}
	p := fake(t, srv)
	if !p.CanContinue("fake") {
		t.Fatal("CanContinue: false for a template that continues")
	}
	whole := run(t, p, chat(nil, 256))
	if whole.finish != stream.FinishStop || whole.usage.CompletionTokens != ollamatest.DefaultLength || !strings.Contains(whole.text, "\n\n") {
		t.Fatalf("the uninterrupted answer: %+v; want %d tokens with a blank line", whole, ollamatest.DefaultLength)
	}
	for _, cut := range cuts(whole.text) {
		prefix := whole.text[:cut]
		before := len(srv.Requests())
		rest := run(t, p, chat(&prefix, 256))
		if prefix+rest.text != whole.text || rest.usage != whole.usage || rest.finish != whole.finish {
			t.Fatalf("continued from %q: %q, %+v, %s\nwant the rest of %q, %+v, %s", prefix, rest.text, rest.usage, rest.finish, whole.text, whole.usage, whole.finish)
		}
		// Two counts, then the continuation: think off, the trimmed
		// prefix, num_predict less the prefix's tokens.
		reqs := srv.Requests()[before:]
		if len(reqs) != 3 {
			t.Fatalf("continued from %q with %d requests, want 3: %v", prefix, len(reqs), reqs)
		}
		sent := strings.TrimRight(prefix, " \n")
		k := mock.Count(sent)
		last := reqs[2].Body
		msgs := last["messages"].([]any)
		if last["think"] != false || last["stream"] != true || msgs[len(msgs)-1].(map[string]any)["content"] != sent ||
			last["options"].(map[string]any)["num_predict"] != float64(256-k) {
			t.Fatalf("continued from %q with %v; want think false, the prefix %q, num_predict %d", prefix, last, sent, 256-k)
		}
		for i, c := range reqs[:2] {
			if c.Body["stream"] != false || c.Body["options"].(map[string]any)["num_predict"] != float64(1) || len(c.Body["messages"].([]any)) != 1+i {
				t.Fatalf("count %d: %v", i, c.Body)
			}
		}
	}
}

// max_tokens bounds the whole answer, the part begun included; a prefix
// that has them all is answered without a generation.
func TestContinueMaxTokens(t *testing.T) {
	srv := &ollamatest.Server{}
	p := fake(t, srv)
	whole := run(t, p, chat(nil, 12))
	if whole.finish != stream.FinishLength || whole.usage.CompletionTokens != 12 {
		t.Fatalf("the uninterrupted answer: %+v", whole)
	}
	toks := mock.Tokens(whole.text)
	for _, k := range []int{1, 5, 11, 12} {
		prefix := strings.Join(toks[:k], "")
		before := len(srv.Requests())
		rest := run(t, p, chat(&prefix, 12))
		if prefix+rest.text != whole.text || rest.usage != whole.usage || rest.finish != stream.FinishLength {
			t.Fatalf("continued after %d tokens: %q %+v %s; want the rest of %q, %+v", k, rest.text, rest.usage, rest.finish, whole.text, whole.usage)
		}
		if n := len(srv.Requests()) - before; k == 12 && n != 2 {
			t.Fatalf("a prefix with all its tokens took %d requests, want the 2 counts only", n)
		}
	}
}

// A completion's continuation (the prompt, and the answer begun after it)
// goes as a raw /api/generate of the two joined.
func TestContinueRawPrompt(t *testing.T) {
	srv := &ollamatest.Server{}
	p := fake(t, srv)
	req := &stream.Request{Model: "fake", Prompt: "Once upon a time", RawPrompt: true, Sampling: stream.Sampling{MaxTokens: 100}}
	whole := run(t, p, req)
	if whole.finish != stream.FinishStop || whole.text == "" {
		t.Fatalf("the uninterrupted answer: %+v", whole)
	}
	for _, cut := range cuts(whole.text) {
		c := *req
		c.Messages = []stream.Message{{Role: "assistant", Content: whole.text[:cut]}}
		rest := run(t, p, &c)
		if whole.text[:cut]+rest.text != whole.text || rest.usage != whole.usage {
			t.Fatalf("continued from %q: %q %+v; want the rest of %q, %+v", whole.text[:cut], rest.text, rest.usage, whole.text, whole.usage)
		}
		reqs := srv.Requests()
		last := reqs[len(reqs)-1]
		if last.Path != "/api/generate" || last.Body["raw"] != true || last.Body["prompt"] != req.Prompt+strings.TrimRight(whole.text[:cut], " \n") {
			t.Fatalf("continued from %q with %s %v", whole.text[:cut], last.Path, last.Body)
		}
	}
}

// CanContinue asks Ollama to render a chat ending with an assistant text
// and says yes only if the prompt ends with it; it asks once per model.
// A model that does not continue gets a client's answer begun as the
// client sent it.
func TestCanContinue(t *testing.T) {
	for _, tt := range []struct {
		name string
		srv  *ollamatest.Server
		want bool
	}{
		{"continues", &ollamatest.Server{}, true},
		{"closes the last message", &ollamatest.Server{Closing: true}, false},
		{"before v0.11.5", &ollamatest.Server{Old: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := fake(t, tt.srv)
			if got := p.CanContinue("fake"); got != tt.want {
				t.Fatalf("CanContinue: %v, want %v", got, tt.want)
			}
			p.CanContinue("fake")
			if n := len(tt.srv.Requests()); n != 1 {
				t.Fatalf("%d probes, want 1 (its answer kept)", n)
			}
			if tt.want {
				return
			}
			prefix := "Rain"
			run(t, p, chat(&prefix, 10))
			reqs := tt.srv.Requests()
			last := reqs[len(reqs)-1].Body
			if len(reqs) != 2 || last["think"] != nil || last["options"].(map[string]any)["num_predict"] != float64(10) {
				t.Fatalf("a prefill to a model that does not continue went as %v after %d requests; want it as sent", last, len(reqs)-1)
			}
		})
	}
}

// A probe that fails on the way is not kept; a model Ollama does not
// have is.
func TestCanContinueErrors(t *testing.T) {
	status, n := 0, 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.WriteHeader(status)
		w.Write([]byte(`{"error":"nope"}`))
	}))
	defer ts.Close()
	p := ollama.NewProvider(ollama.Config{BaseURL: ts.URL})
	status = http.StatusInternalServerError
	if p.CanContinue("m") || p.CanContinue("m") || n != 2 {
		t.Fatalf("a 500: probed %d times, want 2 (not kept), each false", n)
	}
	status, n = http.StatusNotFound, 0
	if p.CanContinue("m") || p.CanContinue("m") || n != 1 {
		t.Fatalf("a 404: probed %d times, want 1 (kept), false", n)
	}
}

// An answer begun under a JSON format is refused: Ollama's grammar would
// start the answer again.
func TestContinueJSONFormat(t *testing.T) {
	p := fake(t, &ollamatest.Server{})
	prefix := `{"a":`
	req := chat(&prefix, 10)
	req.ResponseFormat = &stream.ResponseFormat{Type: stream.FormatJSONObject}
	_, err := p.Stream(context.Background(), req)
	if se := stream.AsError(err); err == nil || se.Code != stream.CodeInvalidRequest || se.Param != "response_format" {
		t.Fatalf("got %v; want an invalid request naming response_format", err)
	}
}

// BenchmarkContinue is a call continued from half its answer against
// one that writes as many tokens afresh (its max_tokens), each read to
// its end, on the fake Ollama over loopback: what the two counts before a
// continuation add (the probe's answer is kept), besides what Ollama
// spends on them.
func BenchmarkContinue(b *testing.B) {
	srv := &ollamatest.Server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	p := ollama.NewProvider(ollama.Config{BaseURL: ts.URL})
	s, err := p.Stream(context.Background(), chat(nil, 256))
	if err != nil {
		b.Fatal(err)
	}
	n := ollamatest.DefaultLength / 2
	half := strings.Join(mock.Tokens(stream.Collect(s).Text)[:n], "")
	for _, bc := range []struct {
		name string
		req  *stream.Request
	}{{"afresh", chat(nil, n)}, {"continued", chat(&half, 256)}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := p.Stream(context.Background(), bc.req)
				if err != nil {
					b.Fatal(err)
				}
				deltas := 0
				for ev, err := range stream.Events(s) {
					if err != nil {
						b.Fatal(err)
					}
					if ev.Kind == stream.KindDelta {
						deltas++
					}
				}
				if deltas != n {
					b.Fatalf("%d tokens, want %d", deltas, n)
				}
			}
		})
	}
}
