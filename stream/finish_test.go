package stream

import (
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGoFinisher(t *testing.T) {
	s := Go(context.Background(), 1, func(ctx context.Context, emit func(Event) bool) error { return nil })
	if Finish(s, FinishStop) {
		t.Fatal("a Go stream reported Finish")
	}
	s.Close()
	if Finish(Slice(Delta("a")), FinishStop) {
		t.Fatal("a Slice reported Finish")
	}

	var req FinishRequest
	calls := 0
	s = GoFinisher(context.Background(), 1, func(ctx context.Context, emit func(Event) bool) error {
		n := 0
		for {
			if r, ok := req.Requested(); ok {
				emit(UsageEvent(Usage{CompletionTokens: n}))
				emit(Finished(r))
				return nil
			}
			n++
			if !emit(Delta("x")) {
				return ctx.Err()
			}
		}
	}, func(r FinishReason) bool {
		calls++
		req.Set(r)
		return true
	})
	if ev, err := s.Recv(); err != nil || ev.Text != "x" {
		t.Fatal(ev, err)
	}
	if !Finish(s, FinishLength) || !Finish(s, FinishStop) || calls != 1 {
		t.Fatalf("Finish: %d calls", calls)
	}
	r := Collect(s)
	if r.Finish != FinishLength || r.Usage == nil || r.Usage.CompletionTokens != len(r.Text)+1 {
		t.Fatalf("finish %s, usage %+v, text %q", r.Finish, r.Usage, r.Text)
	}
}

func TestFinishRequest(t *testing.T) {
	var f FinishRequest
	if _, ok := f.Requested(); ok {
		t.Fatal("zero FinishRequest is set")
	}
	f.Set(FinishStop)
	f.Set(FinishLength)
	if r, ok := f.Requested(); !ok || r != FinishStop {
		t.Fatalf("Requested = %q %v, want the first reason", r, ok)
	}
}
