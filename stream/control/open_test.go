package control

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/runnel/runnel/stream"
)

// Open gives the events Apply's provider gives, for every shape of stream
// and every set of options, whether it takes its own path (no stop
// sequences, no think tags) or Apply's.
func TestOpenMatchesApply(t *testing.T) {
	think := DefaultThinkTags
	usage := stream.UsageEvent(stream.Usage{PromptTokens: 3, CompletionTokens: 2})
	streams := map[string]*script{
		"plain":         {events: cat(deltas("a", "b"), evs(usage, stream.Finished(stream.FinishStop)))},
		"usage last":    {events: cat(deltas("a"), evs(stream.Finished(stream.FinishLength), usage))},
		"split rune":    {events: cat(deltas("x", "€"[:1], "€"[1:]+"!", "é"[:1]))},
		"thinking":      {events: evs(stream.ThinkingDelta("hm"), stream.Delta("<think>no</think>ok"))},
		"error":         {events: cat(deltas("a"), evs(stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "x"))))},
		"recv error":    {events: deltas("a", "b"), err: errors.New("reset")},
		"empty":         {},
		"empty deltas":  {events: deltas("", "a", "")},
		"after finish":  {events: cat(evs(stream.Finished(stream.FinishStop)), deltas("late"))},
		"tool call":     {events: evs(stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Name: "f", Arguments: "{}"}})},
		"many in a row": {events: deltas("a", "b", "c", "d", "e", "f")},
	}
	options := map[string]Options{
		"none":       {BufferSize: -1},
		"buffer":     {},
		"max tokens": {BufferSize: -1, MaxTokens: 2},
		"timeouts":   {BufferSize: -1, Timeouts: stream.Timeouts{Total: time.Hour, Idle: time.Hour, FirstToken: time.Hour}},
		"stop":       {BufferSize: -1, Stop: []string{"!"}},
		"think":      {BufferSize: -1, Think: &think},
		"everything": {BufferSize: 4, MaxTokens: 3, Stop: []string{"b"}, Think: &think, Timeouts: stream.Timeouts{Total: time.Hour}},
	}
	for sn, sc := range streams {
		for on, o := range options {
			want := run(t, Apply(&script{events: sc.events, err: sc.err}, o))
			s, err := new(Text).Open(context.Background(), &script{events: sc.events, err: sc.err}, o, &stream.Request{})
			if err != nil {
				t.Fatalf("%s, %s: %v", sn, on, err)
			}
			got := drain(t, s)
			s.Close()
			if len(got) == 0 || join(got) != join(want) {
				t.Errorf("%s, %s:\n Open  %q\n Apply %q", sn, on, got, want)
			}
		}
	}
}

func join(s []string) (out string) {
	for _, e := range s {
		out += e + "|"
	}
	return out
}

// Open returns a start error as Apply's provider does (a *stream.Error),
// and closes nothing it did not open.
func TestOpenStartError(t *testing.T) {
	fail := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return nil, errors.New("refused")
	})
	_, want := Apply(fail, Options{BufferSize: -1}).Stream(context.Background(), &stream.Request{})
	_, got := new(Text).Open(context.Background(), fail, Options{BufferSize: -1}, &stream.Request{})
	var e *stream.Error
	if !errors.As(got, &e) || got.Error() != want.Error() {
		t.Fatalf("Open: %v, Apply: %v", got, want)
	}
}

// A plain stream's controls are one allocation, max_tokens included
// (Apply's provider chain made four: two closures, two streams; six with
// max_tokens).
func TestOpenAllocations(t *testing.T) {
	p := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) { return nopStream{}, nil })
	req := &stream.Request{}
	for _, c := range []struct {
		o    Options
		want float64
	}{{Options{BufferSize: -1}, 1}, {Options{BufferSize: -1, MaxTokens: 256}, 1}} {
		n := testing.AllocsPerRun(100, func() {
			if _, err := new(Text).Open(context.Background(), p, c.o, req); err != nil {
				t.Fatal(err)
			}
		})
		if n != c.want {
			t.Errorf("%+v: %.0f allocations to open a stream's controls, want %.0f", c.o, n, c.want)
		}
	}
}

// A whole plain stream, its usage and finish included, allocates nothing
// in its controls past their one allocation: the normalizer's queue of
// the events that end it starts in room of its own.
func TestWholeStreamAllocations(t *testing.T) {
	u := &stream.Usage{PromptTokens: 3, CompletionTokens: 1}
	evs := []stream.Event{stream.Delta("hi"), {Kind: stream.KindUsage, Usage: u}, stream.Finished(stream.FinishStop)}
	p := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return &cannedStream{evs: evs}, nil
	})
	req := &stream.Request{}
	var got []stream.Event
	n := testing.AllocsPerRun(100, func() {
		s, err := new(Text).Open(context.Background(), p, Options{BufferSize: -1}, req)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for {
			ev, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
		s.Close()
	})
	if len(got) != 3 || got[0].Text != "hi" || got[1].Usage != u || got[2].Finish != stream.FinishStop {
		t.Fatalf("events %+v, want the delta, the usage and the finish", got)
	}
	if n != 2 { // the provider's stream, the controls
		t.Errorf("%.0f allocations a stream, want 2", n)
	}
}

// cannedStream returns evs, then io.EOF.
type cannedStream struct{ evs []stream.Event }

func (s *cannedStream) Recv() (stream.Event, error) {
	if len(s.evs) == 0 {
		return stream.Event{}, io.EOF
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	return ev, nil
}

func (s *cannedStream) Close() error { return nil }

type nopStream struct{}

func (nopStream) Recv() (stream.Event, error) { return stream.Event{}, nil }
func (nopStream) Close() error                { return nil }
