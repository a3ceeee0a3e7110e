package engine

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/stream/control"
)

// spy counts and joins the deltas its provider's streams produce, including
// those the controls drop after a stop: the truth the usage must match.
type spy struct {
	p      stream.Provider
	deltas atomic.Int64
	text   strings.Builder
}

func (s *spy) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	in, err := s.p.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return &spyStream{in, s}, nil
}

type spyStream struct {
	stream.Stream
	s *spy
}

func (s *spyStream) Recv() (stream.Event, error) {
	ev, err := s.Stream.Recv()
	if err == nil && ev.Kind == stream.KindDelta {
		s.s.deltas.Add(1)
		s.s.text.WriteString(ev.Text)
	}
	return ev, err
}

func (s *spyStream) Finish(r stream.FinishReason) bool { return stream.Finish(s.Stream, r) }

// TestFinishExactUsage: a stop sequence or the max_tokens control ends a
// greedy stories260K generation through Finish, and the usage is the
// engine's own: every token it generated, the stop's included.
func TestFinishExactUsage(t *testing.T) {
	e := newEngine(t, Options{})
	for _, tt := range []struct {
		name   string
		o      control.Options
		text   string
		finish stream.FinishReason
	}{
		{"stop", control.Options{Stop: []string{"Lily."}}, ", there was a little girl named ", stream.FinishStop},
		{"max_tokens", control.Options{MaxTokens: 10}, ", there was a little girl named Lily", stream.FinishLength},
	} {
		for _, buffer := range []int{-1, control.DefaultBufferSize} {
			sp := &spy{p: e}
			tt.o.BufferSize = buffer
			req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0)})
			s, err := control.Apply(sp, tt.o).Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			r := stream.Collect(s)
			if r.Text != tt.text || r.Finish != tt.finish || r.Err != nil {
				t.Fatalf("%s/%d: text %q finish %s err %v", tt.name, buffer, r.Text, r.Finish, r.Err)
			}
			u := r.Usage
			if u == nil || u.Estimated || u.PromptTokens != len(testmodels.GreedyPromptIDs) ||
				u.CompletionTokens != int(sp.deltas.Load()) || u.GenerationDuration <= 0 {
				t.Fatalf("%s/%d: usage %+v, engine sent %d deltas", tt.name, buffer, u, sp.deltas.Load())
			}
			// What it generated is the greedy sample's start, and at least
			// the tokens up to the cut.
			if got := sp.text.String(); !strings.HasPrefix(testmodels.GreedyText, got) || len(got) < len(tt.text) {
				t.Fatalf("%s/%d: the engine generated %q", tt.name, buffer, got)
			}
		}
	}
}

func TestFinishFreesSlot(t *testing.T) {
	// With one slot, a finished sequence makes room for the next: Finish
	// ends the sequence in the scheduler, not only in the stream.
	e := newEngine(t, Options{MaxParallel: 1})
	for range 3 {
		s, err := e.Stream(context.Background(), chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0)}))
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := s.Recv(); err != nil || ev.Kind != stream.KindDelta {
			t.Fatal(ev, err)
		}
		if !stream.Finish(s, stream.FinishCancelled) {
			t.Fatal("the engine's streams are Finishers")
		}
		r := stream.Collect(s)
		if r.Finish != stream.FinishCancelled || r.Usage == nil || r.Usage.CompletionTokens < 1 ||
			!strings.HasPrefix(testmodels.GreedyText[1:], r.Text) {
			t.Fatalf("finish %s usage %+v text %q", r.Finish, r.Usage, r.Text)
		}
	}
}

// records is a gateway.Accountant keeping the records.
type records struct {
	mu   sync.Mutex
	recs []*gateway.Record
}

func (a *records) Admit(ctx context.Context, req *stream.Request) (gateway.Admission, error) {
	return a, nil
}
func (a *records) Warnings() []string { return nil }
func (a *records) Done(rec *gateway.Record) {
	a.mu.Lock()
	a.recs = append(a.recs, rec)
	a.mu.Unlock()
}

// TestGatewayEstimatesWithTokenizer: a client that goes away mid-stream
// leaves no usage from the engine; the gateway counts it with the model's
// own tokenizer (the prompt exactly as fed, BOS included).
func TestGatewayEstimatesWithTokenizer(t *testing.T) {
	e := newEngine(t, Options{})
	r := gateway.NewStaticRouter()
	r.Register("engine", e)
	acc := &records{}
	gw := gateway.New(gateway.Options{Router: r, Accountant: acc})
	req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0)})
	req.Model = "engine/stories260K"
	c, err := gw.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := c.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if len(acc.recs) != 1 {
		t.Fatalf("%d records", len(acc.recs))
	}
	rec := acc.recs[0]
	want, _ := e.CountText("stories260K", rec.Output)
	if rec.Status != "cancelled" || !strings.HasPrefix(testmodels.GreedyText, rec.Output) || !rec.Usage.Estimated ||
		rec.Usage.PromptTokens != len(testmodels.GreedyPromptIDs) || rec.Usage.CompletionTokens != want || want < 9 {
		t.Fatalf("record %+v", rec)
	}
	if _, ok := e.CountText("absent-model", "x"); ok {
		t.Fatal("counted for a model that is not loaded")
	}
}

func TestFinishWhileQueued(t *testing.T) {
	// One slot, held by a stream nobody reads (its generation pauses):
	// a queued stream that is finished ends without waiting for the slot.
	e := newEngine(t, Options{MaxParallel: 1})
	req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0)})
	first, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.Recv(); err != nil { // it holds the slot
		t.Fatal(err)
	}
	second, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Finish(second, stream.FinishCancelled) {
		t.Fatal("not a Finisher")
	}
	r := stream.Collect(second)
	if r.Finish != stream.FinishCancelled || r.Text != "" || r.Usage == nil ||
		*r.Usage != (stream.Usage{PromptTokens: len(testmodels.GreedyPromptIDs)}) {
		t.Fatalf("finish %s text %q usage %+v", r.Finish, r.Text, r.Usage)
	}
}
