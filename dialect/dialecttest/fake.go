package dialecttest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// Recorder keeps the requests a fake upstream (ollamatest, anthropictest)
// got, for assertions. Its zero value is ready.
type Recorder struct {
	mu   sync.Mutex
	reqs []Recorded
}

// Recorded is a request a fake upstream got: its path and JSON body.
type Recorded struct {
	Path string
	Body map[string]any
}

// Record keeps a request.
func (r *Recorder) Record(path string, body map[string]any) {
	r.mu.Lock()
	r.reqs = append(r.reqs, Recorded{Path: path, Body: body})
	r.mu.Unlock()
}

// Requests returns the requests kept so far, in order.
func (r *Recorder) Requests() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded(nil), r.reqs...)
}

// Answer is what a stream carried: its text, usage (without its timings,
// which differ between two runs) and finish.
type Answer struct {
	Text   string
	Usage  stream.Usage
	Finish stream.FinishReason
}

// Run streams req from p to its end; an error fails t.
func Run(t testing.TB, p stream.Provider, req *stream.Request) Answer {
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
	a := Answer{Text: res.Text, Finish: res.Finish}
	if res.Usage != nil {
		a.Usage = *res.Usage
		a.Usage.PromptDuration, a.Usage.GenerationDuration = 0, 0
	}
	return a
}

// Continuing is a gateway.Continuer's continuation under test, against a
// fake upstream writing with NextToken: Chat is the request with the
// answer begun (none if nil) and max_tokens; Fake keeps the requests the
// fake got.
type Continuing struct {
	Provider stream.Provider
	Chat     func(prefix *string, maxTokens int) *stream.Request
	Fake     *Recorder
}

// AsUninterrupted checks that an answer begun, cut anywhere between its
// tokens (or in the white space leading one: Cuts), is continued into
// exactly the uninterrupted answer of length tokens: the text, the usage
// and the finish; a prefix lost or repeated at the seam would change what
// the fake writes after it. each is called after each continuation with
// its prefix and the requests the fake got for it.
func (c Continuing) AsUninterrupted(t testing.TB, length int, each func(prefix string, reqs []Recorded)) {
	t.Helper()
	whole := Run(t, c.Provider, c.Chat(nil, 256))
	if whole.Finish != stream.FinishStop || whole.Usage.CompletionTokens != length || !strings.Contains(whole.Text, "\n\n") {
		t.Fatalf("the uninterrupted answer: %+v; want %d tokens with a blank line", whole, length)
	}
	for _, cut := range Cuts(whole.Text) {
		prefix := whole.Text[:cut]
		before := len(c.Fake.Requests())
		rest := Run(t, c.Provider, c.Chat(&prefix, 256))
		if prefix+rest.Text != whole.Text || rest.Usage != whole.Usage || rest.Finish != whole.Finish {
			t.Fatalf("continued from %q: %q, %+v, %s\nwant the rest of %q, %+v, %s", prefix, rest.Text, rest.Usage, rest.Finish, whole.Text, whole.Usage, whole.Finish)
		}
		each(prefix, c.Fake.Requests()[before:])
	}
}

// MaxTokens checks that max_tokens bounds the whole answer, the part begun
// included: an answer of 12 tokens, continued after 1, 5, 11 and 12, is
// the same text, usage and finish (length); a prefix that has them all is
// answered after counts requests, without a generation.
func (c Continuing) MaxTokens(t testing.TB, counts int) {
	t.Helper()
	whole := Run(t, c.Provider, c.Chat(nil, 12))
	if whole.Finish != stream.FinishLength || whole.Usage.CompletionTokens != 12 {
		t.Fatalf("the uninterrupted answer: %+v", whole)
	}
	toks := mock.Tokens(whole.Text)
	for _, k := range []int{1, 5, 11, 12} {
		prefix := strings.Join(toks[:k], "")
		before := len(c.Fake.Requests())
		rest := Run(t, c.Provider, c.Chat(&prefix, 12))
		if prefix+rest.Text != whole.Text || rest.Usage != whole.Usage || rest.Finish != stream.FinishLength {
			t.Fatalf("continued after %d tokens: %q %+v %s; want the rest of %q, %+v", k, rest.Text, rest.Usage, rest.Finish, whole.Text, whole.Usage)
		}
		if n := len(c.Fake.Requests()) - before; k == 12 && n != counts {
			t.Fatalf("a prefix with all its tokens took %d requests, want the %d counts only", n, counts)
		}
	}
}

// WriteJSON writes v as a JSON answer of status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(v)
	w.Write(b)
}

// Bench measures a call continued from half its answer of length tokens
// against one writing as many tokens afresh (its max_tokens), each read
// to its end: what a continuation adds before its generation.
func (c Continuing) Bench(b *testing.B, length int) {
	s, err := c.Provider.Stream(context.Background(), c.Chat(nil, 256))
	if err != nil {
		b.Fatal(err)
	}
	n := length / 2
	half := strings.Join(mock.Tokens(stream.Collect(s).Text)[:n], "")
	for _, bc := range []struct {
		name string
		req  *stream.Request
	}{{"afresh", c.Chat(nil, n)}, {"continued", c.Chat(&half, 256)}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := c.Provider.Stream(context.Background(), bc.req)
				if err != nil {
					b.Fatal(err)
				}
				text := ""
				for ev, err := range stream.Events(s) {
					if err != nil {
						b.Fatal(err)
					}
					if ev.Kind == stream.KindDelta {
						text += ev.Text
					}
				}
				if k := mock.Count(text); k != n {
					b.Fatalf("%d tokens, want %d", k, n)
				}
			}
		})
	}
}
