package control

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/runnel/runnel/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script is a provider whose streams send events, then end with err (io.EOF
// when nil), or block until cancelled when hang is set.
type script struct {
	events []stream.Event
	err    error
	hang   bool
	closed atomic.Int32 // streams closed
	recvs  atomic.Int64 // events handed out
	ctxErr atomic.Value // error seen when a hang ended
}

func (p *script) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return &scriptStream{p: p, ctx: ctx, events: p.events, done: make(chan struct{})}, nil
}

type scriptStream struct {
	p      *script
	ctx    context.Context
	events []stream.Event
	once   sync.Once
	done   chan struct{}
}

func (s *scriptStream) Recv() (stream.Event, error) {
	if len(s.events) > 0 {
		select {
		case <-s.done:
			return stream.Event{}, context.Canceled
		default:
		}
		ev := s.events[0]
		s.events = s.events[1:]
		s.p.recvs.Add(1)
		return ev, nil
	}
	if s.p.hang {
		select {
		case <-s.ctx.Done():
			s.p.ctxErr.Store(s.ctx.Err())
			return stream.Event{}, s.ctx.Err()
		case <-s.done:
			s.p.ctxErr.Store(io.ErrClosedPipe)
			return stream.Event{}, context.Canceled
		}
	}
	if s.p.err != nil {
		return stream.Event{}, s.p.err
	}
	return stream.Event{}, io.EOF
}

func (s *scriptStream) Close() error {
	s.once.Do(func() { close(s.done); s.p.closed.Add(1) })
	return nil
}

func deltas(texts ...string) []stream.Event {
	evs := make([]stream.Event, len(texts))
	for i, t := range texts {
		evs[i] = stream.Delta(t)
	}
	return evs
}

func cat(parts ...[]stream.Event) []stream.Event {
	var out []stream.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func evs(e ...stream.Event) []stream.Event { return e }

// show renders an event compactly for comparisons.
func show(ev stream.Event) string {
	switch ev.Kind {
	case stream.KindDelta:
		if ev.Channel == stream.Thinking {
			return "t:" + ev.Text
		}
		if ev.Channel != stream.Output {
			return fmt.Sprintf("d(%s):%s", ev.Channel, ev.Text)
		}
		return "d:" + ev.Text
	case stream.KindToolCall:
		return fmt.Sprintf("tool:%d:%s:%s", ev.ToolCall.Index, ev.ToolCall.Name, ev.ToolCall.Arguments)
	case stream.KindUsage:
		return fmt.Sprintf("usage:%d/%d", ev.Usage.PromptTokens, ev.Usage.CompletionTokens)
	case stream.KindFinish:
		if seq := ev.StopSequence(); seq != "" {
			return "finish:" + string(ev.Finish) + "(" + seq + ")"
		}
		return "finish:" + string(ev.Finish)
	case stream.KindError:
		return fmt.Sprintf("error:%s:%s", ev.Err.Code, ev.Err.Message)
	}
	return ev.String()
}

// drain reads s to its end (at most 1<<20 events) and renders what it got;
// a Recv error other than io.EOF is rendered as "ERR:<err>".
func drain(t *testing.T, s stream.Stream) []string {
	t.Helper()
	var out []string
	for range 1 << 20 {
		ev, err := s.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			return append(out, "ERR:"+err.Error())
		}
		out = append(out, show(ev))
	}
	t.Fatalf("stream did not end: %v", out)
	return nil
}

func run(t *testing.T, p stream.Provider) []string {
	t.Helper()
	s, err := p.Stream(context.Background(), &stream.Request{})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	defer s.Close()
	return drain(t, s)
}

func check(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events:\n got  %q\n want %q", got, want)
	}
}
