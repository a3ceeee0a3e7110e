package control

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"

	"github.com/runnel/runnel/stream"
)

func TestNormalize(t *testing.T) {
	usage := stream.UsageEvent(stream.Usage{PromptTokens: 3, CompletionTokens: 2})
	usage2 := stream.UsageEvent(stream.Usage{PromptTokens: 4, CompletionTokens: 5})
	tool := stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Name: "f", Arguments: "{}"}}
	tests := []struct {
		name   string
		events []stream.Event
		err    error
		want   []string
	}{
		{"well formed", cat(deltas("a", "b"), evs(usage, stream.Finished(stream.FinishLength))), nil,
			[]string{"d:a", "d:b", "usage:3/2", "finish:length"}},
		{"missing finish", deltas("a"), nil, []string{"d:a", "finish:stop"}},
		{"missing finish after tools", evs(tool), nil, []string{"tool:0:f:{}", "finish:tool_calls"}},
		{"empty stream", nil, nil, []string{"finish:stop"}},
		{"usage after finish", cat(deltas("a"), evs(stream.Finished(stream.FinishStop), usage)), nil,
			[]string{"d:a", "usage:3/2", "finish:stop"}},
		{"last usage wins", evs(usage, stream.Delta("a"), usage2), nil,
			[]string{"d:a", "usage:4/5", "finish:stop"}},
		{"empty and channelless deltas", evs(stream.Delta(""), stream.Event{Kind: stream.KindDelta, Text: "x"},
			stream.Event{Kind: stream.KindUsage}, stream.Event{Kind: stream.KindToolCall}, stream.Event{Kind: 99}), nil,
			[]string{"d:x", "finish:stop"}},
		{"thinking kept", evs(stream.ThinkingDelta("hm"), stream.Delta("a")), nil,
			[]string{"t:hm", "d:a", "finish:stop"}},
		{"events after finish dropped", evs(stream.Delta("a"), stream.Finished(stream.FinishStop), stream.Delta("b"),
			stream.Finished(stream.FinishLength)), nil, []string{"d:a", "finish:stop"}},
		{"empty finish reason", evs(stream.Finished("")), nil, []string{"finish:stop"}},
		{"error event", evs(stream.Delta("a"), usage, stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "boom")),
			stream.Delta("b")), nil, []string{"d:a", "usage:3/2", "error:upstream_error:boom", "finish:error"}},
		{"nil error event", evs(stream.Event{Kind: stream.KindError}), nil,
			[]string{"error:upstream_error:the provider reported an unspecified error", "finish:error"}},
		{"finish error without error", evs(stream.Delta("a"), stream.Finished(stream.FinishError)), nil,
			[]string{"d:a", "error:upstream_error:the provider ended the stream with an error", "finish:error"}},
		{"raw error", deltas("a"), errors.New("connection reset"), []string{"d:a", "error:upstream_error:connection reset", "finish:error"}},
		{"raw coded error", nil, stream.Errorf(stream.CodeOverloaded, "busy"), []string{"error:overloaded:busy", "finish:error"}},
		{"raw deadline", nil, context.DeadlineExceeded, []string{"error:timeout:deadline exceeded", "finish:error"}},
		{"raw cancel", deltas("a"), context.Canceled, []string{"d:a", "finish:cancelled"}},
		{"error after finish", evs(stream.Delta("a"), stream.Finished(stream.FinishLength)), io.ErrUnexpectedEOF,
			[]string{"d:a", "finish:length"}},
		{"cancelled finish", evs(stream.Delta("a"), stream.Finished(stream.FinishCancelled)), nil,
			[]string{"d:a", "finish:cancelled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &script{events: tt.events, err: tt.err}
			s, err := Normalize(p).Stream(context.Background(), &stream.Request{})
			if err != nil {
				t.Fatal(err)
			}
			check(t, drain(t, s), tt.want...)
			if p.closed.Load() != 1 {
				t.Errorf("inner stream closed %d times at the end, want 1", p.closed.Load())
			}
			// The end is sticky.
			if _, err := s.Recv(); err != io.EOF {
				t.Errorf("Recv after the end = %v, want io.EOF", err)
			}
			s.Close()
		})
	}
}

func TestNormalizeStartError(t *testing.T) {
	p := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return nil, errors.New("dial tcp: refused")
	})
	_, err := Normalize(p).Stream(context.Background(), &stream.Request{})
	var e *stream.Error
	if !errors.As(err, &e) || e.Code != stream.CodeUpstream || e.Message != "dial tcp: refused" {
		t.Fatalf("err = %#v, want *stream.Error upstream", err)
	}
}

func TestNormalizeCancellation(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := &script{events: deltas("a"), hang: true}
			ctx, cancel := context.WithCancel(context.Background())
			s, _ := Normalize(p).Stream(ctx, &stream.Request{})
			defer s.Close()
			ev, _ := s.Recv()
			check(t, []string{show(ev)}, "d:a")
			go cancel()
			check(t, drain(t, s), "finish:cancelled")
			if err, _ := p.ctxErr.Load().(error); err != context.Canceled {
				t.Fatalf("upstream saw %v, want context.Canceled", err)
			}
		})
	})
	// A context cancelled with a *stream.Error for cause (a server
	// shutting down) ends the stream with that error: the client is
	// still there to read it.
	t.Run("cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := &script{events: deltas("a"), hang: true}
			ctx, cancel := context.WithCancelCause(context.Background())
			s, _ := Normalize(p).Stream(ctx, &stream.Request{})
			defer s.Close()
			s.Recv()
			go cancel(stream.Errorf(stream.CodeOverloaded, "shutting down"))
			check(t, drain(t, s), "error:overloaded:shutting down", "finish:error")
		})
	})
	t.Run("close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := &script{events: deltas("a"), hang: true}
			s, _ := Normalize(p).Stream(context.Background(), &stream.Request{})
			s.Recv()
			got := make(chan []string)
			go func() { got <- drain(t, s) }()
			synctest.Wait() // Recv is blocked in the upstream
			s.Close()
			check(t, <-got, "finish:cancelled")
			if p.closed.Load() != 1 {
				t.Fatalf("inner closed %d times, want 1", p.closed.Load())
			}
		})
	})
}
