package ollama_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/dialect/ollama/ollamatest"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

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
	c := dialecttest.Continuing{Provider: p, Chat: chat, Fake: &srv.Recorder}
	c.AsUninterrupted(t, ollamatest.DefaultLength, func(prefix string, reqs []dialecttest.Recorded) {
		// Two counts, then the continuation: think off, the trimmed
		// prefix, num_predict less the prefix's tokens.
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
	})
}

// max_tokens bounds the whole answer, the part begun included; a prefix
// that has them all is answered without a generation.
func TestContinueMaxTokens(t *testing.T) {
	srv := &ollamatest.Server{}
	c := dialecttest.Continuing{Provider: fake(t, srv), Chat: chat, Fake: &srv.Recorder}
	c.MaxTokens(t, 2)
}

// A completion's continuation (the prompt, and the answer begun after it)
// goes as a raw /api/generate of the two joined.
func TestContinueRawPrompt(t *testing.T) {
	srv := &ollamatest.Server{}
	p := fake(t, srv)
	req := &stream.Request{Model: "fake", Prompt: "Once upon a time", RawPrompt: true, Sampling: stream.Sampling{MaxTokens: 100}}
	whole := dialecttest.Run(t, p, req)
	if whole.Finish != stream.FinishStop || whole.Text == "" {
		t.Fatalf("the uninterrupted answer: %+v", whole)
	}
	for _, cut := range dialecttest.Cuts(whole.Text) {
		c := *req
		c.Messages = []stream.Message{{Role: "assistant", Content: whole.Text[:cut]}}
		rest := dialecttest.Run(t, p, &c)
		if whole.Text[:cut]+rest.Text != whole.Text || rest.Usage != whole.Usage {
			t.Fatalf("continued from %q: %q %+v; want the rest of %q, %+v", whole.Text[:cut], rest.Text, rest.Usage, whole.Text, whole.Usage)
		}
		reqs := srv.Requests()
		last := reqs[len(reqs)-1]
		if last.Path != "/api/generate" || last.Body["raw"] != true || last.Body["prompt"] != req.Prompt+strings.TrimRight(whole.Text[:cut], " \n") {
			t.Fatalf("continued from %q with %s %v", whole.Text[:cut], last.Path, last.Body)
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
			dialecttest.Run(t, p, chat(&prefix, 10))
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
	dialecttest.Continuing{Provider: p, Chat: chat, Fake: &srv.Recorder}.Bench(b, ollamatest.DefaultLength)
}
