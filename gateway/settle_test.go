package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// settler is an accountant that also records calls it did not admit.
type settler struct {
	accountant
	ctxs []context.Context
}

func (r *settler) Record(ctx context.Context, rec *gateway.Record) error {
	r.ctxs = append(r.ctxs, ctx)
	admission{&r.accountant}.Done(rec)
	return nil
}

type ctxKey struct{}

// A call whose serving process died is recorded by Settle with the usage
// of what was served, counted and flagged estimated, priced by the name
// the client asked, in the caller's context.
func TestSettle(t *testing.T) {
	acc := &settler{}
	r := newRig(gateway.Prices{"fast": {InputPerMillion: 1e6, OutputPerMillion: 2e6}}, func(o *gateway.Options) {
		o.Counter = words{}
		o.Accountant = acc
	})
	started := time.Now().Add(-time.Second)
	rec := &gateway.Record{ID: "call_x", Request: chat("fast"), Provider: "m2", Model: "x?tokens=2",
		Output: "second second sec", Thinking: "so", Started: started,
		Finish: stream.FinishError, Status: "error", Err: &stream.Error{Code: stream.CodeUpstream, Message: "interrupted"}}
	ctx := context.WithValue(context.Background(), ctxKey{}, "team:a:k")
	if err := r.gw.Settle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got := acc.only(t)
	// words: "Be brief.\nSay hello, please!\n" is 5; output 3 + thinking 1.
	if got.Usage != (stream.Usage{PromptTokens: 5, CompletionTokens: 4, ReasoningTokens: 1, Estimated: true}) {
		t.Fatalf("usage %+v", got.Usage)
	}
	if got.Cost != (gateway.Cost{Input: 5, Output: 8, Total: 13}) {
		t.Fatalf("cost %+v", got.Cost)
	}
	if got.ID != "call_x" || got.Status != "error" || got.Duration < time.Second {
		t.Fatalf("record %+v", got)
	}
	if acc.ctxs[0].Value(ctxKey{}) != "team:a:k" {
		t.Fatal("Record did not get the caller's context")
	}

	// An Accountant that cannot record such calls is not handed one.
	plain := newRig(nil)
	if err := plain.gw.Settle(ctx, &gateway.Record{ID: "call_y", Output: "x"}); err != nil {
		t.Fatal(err)
	}
	if n := len(plain.acc.records); n != 0 {
		t.Fatalf("%d records handed to an Accountant that is no Recorder", n)
	}
}

// Gateway.Start's call carries the request as admitted.
func TestCallRequest(t *testing.T) {
	r := newRig(nil)
	req := chat("fast")
	c, err := r.gw.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, c)
	c.Close()
	if c.Request != req {
		t.Fatalf("call.Request = %v, want the request started", c.Request)
	}
}

// A continuation streams the rest of the answer, keeps the call's id and
// start, and records the whole answer with the whole usage, once.
func TestContinuation(t *testing.T) {
	r := newRig(nil)
	model := "mock/default?tokens=6&text=one+two+three+four"
	c, err := r.gw.Start(context.Background(), chat(model))
	if err != nil {
		t.Fatal(err)
	}
	whole := drain(t, c)
	c.Close()
	first := r.acc.only(t)

	started := time.Now().Add(-time.Minute)
	ctx := gateway.WithContinuation(context.Background(), gateway.Continuation{ID: "call_orig", Started: started, Text: "one two"})
	c, err = r.gw.Start(ctx, chat(model))
	if err != nil {
		t.Fatal(err)
	}
	rest := drain(t, c)
	c.Close()
	check(t, rest, whole[2:]...)
	if c.ID != "call_orig" || !c.Started.Equal(started) {
		t.Fatalf("continued call %s started %v, want call_orig at %v", c.ID, c.Started, started)
	}
	rec := r.acc.records[1]
	if rec.ID != "call_orig" || rec.Output != first.Output || rec.Usage != first.Usage || rec.Status != "ok" || len(rec.Request.Messages) != 2 {
		t.Fatalf("continued record %+v\nwant the whole answer %q, usage %+v, the original request", rec, first.Output, first.Usage)
	}

	// A provider that cannot continue (a fallback chain) is refused
	// before admission: nothing is recorded.
	if _, err := r.gw.Start(ctx, chat("chain")); err != gateway.ErrCannotContinue {
		t.Fatalf("continuing on a chain: %v, want ErrCannotContinue", err)
	}
	if n := len(r.acc.records); n != 2 {
		t.Fatalf("%d records, want 2", n)
	}
}
