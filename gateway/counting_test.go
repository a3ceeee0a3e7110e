package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/tokencount"
)

// tokenized is a mock that reports no usage but knows its tokenizer: one
// token per byte, and a 100-token prompt template.
type tokenized struct{ *mock.Provider }

func (tokenized) CountPrompt(model string, req *stream.Request) (int, bool) { return 100, true }
func (tokenized) CountText(model, text string) (int, bool)                  { return len(text), true }

// unsure knows no model: the gateway falls back to its Counter.
type unsure struct{ *mock.Provider }

func (unsure) CountPrompt(model string, req *stream.Request) (int, bool) { return 0, false }
func (unsure) CountText(model, text string) (int, bool)                  { return 0, false }

func TestTokenCounterEstimates(t *testing.T) {
	r := gateway.NewStaticRouter()
	r.Register("tk", tokenized{mock.New(mock.Options{NoUsage: true})})
	r.Register("un", unsure{mock.New(mock.Options{NoUsage: true})})
	acc := &accountant{}
	gw := gateway.New(gateway.Options{Router: r, Accountant: acc, Counter: words{}})

	c, _ := gw.Start(context.Background(), chat("tk/x?text=one+two+three"))
	check(t, drain(t, c), "d:one", "d: two", "d: three", "usage:~100/13", "finish:stop")
	c.Close()
	c, _ = gw.Start(context.Background(), chat("un/x?text=one+two+three"))
	check(t, drain(t, c), "d:one", "d: two", "d: three", "usage:~5/3", "finish:stop")
	c.Close()
	if u := acc.records[0].Usage; u != (stream.Usage{PromptTokens: 100, CompletionTokens: 13, Estimated: true}) {
		t.Fatalf("record usage %+v", u)
	}
}

func TestDefaultCounterTiktoken(t *testing.T) {
	// An OpenAI-family model whose upstream sent no usage is counted
	// with tiktoken by default (here the mock plays the upstream).
	r := gateway.NewStaticRouter()
	r.Register("openai", mock.New(mock.Options{NoUsage: true}))
	acc := &accountant{}
	gw := gateway.New(gateway.Options{Router: r, Accountant: acc})
	c, _ := gw.Start(context.Background(), chat("openai/gpt-4o?text=tiktoken+is+great!"))
	drain(t, c)
	c.Close()
	u := acc.only(t).Usage
	model := "gpt-4o?text=tiktoken+is+great!"
	tc := tokencount.Counter{}
	if tokencount.Encoding(model) != "o200k_base" || !u.Estimated ||
		u.CompletionTokens != tc.Count(model, "tiktoken is great!") ||
		u.PromptTokens != tc.Count(model, "Be brief.\nSay hello, please!\n") {
		t.Fatalf("usage %+v", u)
	}
	if u.CompletionTokens == (gateway.ApproxCounter{}).Count("", "tiktoken is great!") {
		t.Fatalf("usage %+v is the rule of thumb's", u)
	}
}

func TestFallbackForwardsFinish(t *testing.T) {
	// The stop finishes the serving target of a fallback chain, whose
	// usage is then its own, not an estimate.
	rg := newRig(nil)
	req := chat("chain")
	req.Sampling.Stop = []string{"k"}
	c, err := rg.gw.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(drain(t, c), "|")
	c.Close()
	if got != "d:o|usage:8/1|finish:stop" && got != "d:o|usage:8/2|finish:stop" {
		t.Fatalf("events %s", got)
	}
	if rec := rg.acc.only(t); rec.Usage.Estimated || rec.Provider != "m2" {
		t.Fatalf("record %+v", rec)
	}
}

func TestCallFinish(t *testing.T) {
	rg := newRig(nil)
	c, err := rg.gw.Start(context.Background(), chat("mock/default?tokens=100&text=tok"))
	if err != nil {
		t.Fatal(err)
	}
	c.Recv()
	if !c.Finish(stream.FinishCancelled) {
		t.Fatal("a mock call cannot finish")
	}
	drain(t, c)
	c.Close()
	rec := rg.acc.only(t)
	n := strings.Count(rec.Output, "tok")
	// The mock counts what it generated, the buffer's read-ahead included.
	if rec.Status != "cancelled" || rec.Usage.Estimated || rec.Usage.PromptTokens != promptTokens ||
		rec.Usage.CompletionTokens < n || n < 1 || c.Summary().Usage != rec.Usage {
		t.Fatalf("record %+v (%d tokens delivered)", rec, n)
	}
}
