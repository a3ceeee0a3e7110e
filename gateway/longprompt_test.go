package gateway_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/tokencount"
)

// sentTo is a provider (no TokenCounter) that notes the requests it got.
type sentTo struct {
	mu   sync.Mutex
	got  []*stream.Request
	serv stream.Provider
}

func (s *sentTo) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	s.mu.Lock()
	s.got = append(s.got, req.Clone())
	s.mu.Unlock()
	return s.serv.Stream(ctx, req)
}

func longChat(model string) *stream.Request {
	return &stream.Request{Model: model, Messages: []stream.Message{
		{Role: "system", Content: "Be brief. Ünïcödé."}, {Role: "user", Content: strings.Repeat("long prompt é ", 600)}}}
}

// A call whose record no Admission keeps lets go of its request once its
// stream has started, when its prompt counts by length: the estimate at
// its end (the client went away, the upstream reported no usage) is the
// one the kept request gives, exactly; a fallback before the first token
// still sent the whole request to each target; and a model counted by
// tokenizer, or a call with an Admission, keeps the request.
func TestRecordLetsGoOfTheRequestItNeedNotKeep(t *testing.T) {
	for _, c := range []struct {
		name    string
		model   string // served by the chain's second target
		counter gateway.Counter
		acct    bool
		kept    bool
	}{
		{"no admission, approximate count", "llama3", gateway.ApproxCounter{}, false, false},
		{"no admission, the default counter", "llama3", nil, false, false},
		{"no admission, a tiktoken model", "gpt-4o", nil, false, true},
		{"no admission, a counter by text", "llama3", words{}, false, true},
		{"an admission records it", "llama3", gateway.ApproxCounter{}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			first := &sentTo{serv: mock.New(mock.Options{})}
			second := &sentTo{serv: mock.New(mock.Options{})}
			r := gateway.NewStaticRouter()
			r.Register("a", first)
			r.Register("b", second)
			r.Alias("chain", gateway.Target{Provider: "a", Model: "x?status=503"}, gateway.Target{Provider: "b", Model: c.model + "?tokens=50&text=tok&usage=0"})
			acc, obs := &accountant{}, &observer{}
			o := gateway.Options{Router: r, Observer: obs, Counter: c.counter}
			if c.acct {
				o.Accountant = acc
			}
			gw := gateway.New(o)
			req := longChat("chain")
			call, err := gw.Start(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if ev, err := call.Recv(); err != nil || ev.Kind != stream.KindDelta {
					t.Fatal(ev, err)
				}
			}
			call.Close() // cancelled: its usage is estimated

			for _, p := range []*sentTo{first, second} {
				if len(p.got) != 1 || len(p.got[0].Messages) != 2 || p.got[0].Messages[1].Content != req.Messages[1].Content {
					t.Fatalf("a target got %d requests, not the whole one", len(p.got))
				}
			}
			rec := obs.ended[0]
			if c.acct && acc.only(t) != rec {
				t.Fatal("the admission and the observer got different records")
			}
			if kept := rec.Request != nil; kept != c.kept {
				t.Errorf("request kept: %v, want %v", kept, c.kept)
			}
			// The estimate the whole request gives.
			counter := c.counter
			if counter == nil {
				counter = tokencount.Counter{}
			}
			var joined strings.Builder
			for _, m := range req.Messages {
				joined.WriteString(m.Content + "\n")
			}
			want := stream.Usage{PromptTokens: counter.Count(rec.Model, joined.String()), CompletionTokens: counter.Count(rec.Model, rec.Output), Estimated: true}
			if rec.Usage != want || rec.Output != "tok tok tok" || rec.Status != "cancelled" {
				t.Errorf("record: usage %+v (want %+v), output %q, %s", rec.Usage, want, rec.Output, rec.Status)
			}
		})
	}
}

// LengthCounter's count of a prompt is Count's of the joined prompt, for
// any text (invalid UTF-8 included), for both counters that count by
// length; tiktoken's models are not counted by length.
func FuzzCountPromptByLength(f *testing.F) {
	f.Add("Be brief.", "Say hello!", "")
	f.Add("", "", "a prompt")
	f.Add("\xe2\x82", "\xac é", "\xff")
	f.Fuzz(func(t *testing.T, a, b, prompt string) {
		req := &stream.Request{Prompt: prompt, Messages: []stream.Message{{Content: a}, {Content: b}}}
		joined := a + "\n" + b + "\n" + prompt
		for _, c := range []gateway.LengthCounter{gateway.ApproxCounter{}, tokencount.Counter{}, tokencount.Counter{Fallback: gateway.ApproxCounter{}}} {
			n, ok := c.CountPrompt("llama3", req)
			if want := c.Count("llama3", joined); !ok || n != want {
				t.Fatalf("%T: CountPrompt %d, %v; Count of the joined prompt %d (%d runes)", c, n, ok, want, utf8.RuneCountInString(joined))
			}
		}
		if _, ok := (tokencount.Counter{}).CountPrompt("gpt-4o", req); ok {
			t.Fatal("a tiktoken model counted by length")
		}
		if _, ok := (tokencount.Counter{Fallback: words{}}).CountPrompt("llama3", req); ok {
			t.Fatal("a Fallback that needs the text counted by length")
		}
	})
}
