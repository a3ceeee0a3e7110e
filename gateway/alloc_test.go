package gateway_test

import (
	"context"
	"io"
	"testing"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// fixedStream sends one token, its usage and its finish, allocating
// nothing: what a call costs beyond it is the gateway's.
type fixedStream struct {
	i     int
	usage stream.Usage
}

func (s *fixedStream) Recv() (stream.Event, error) {
	s.i++
	switch s.i {
	case 1:
		return stream.Delta("hi"), nil
	case 2:
		return stream.Event{Kind: stream.KindUsage, Usage: &s.usage}, nil
	case 3:
		return stream.Finished(stream.FinishStop), nil
	}
	return stream.Event{}, io.EOF
}

func (s *fixedStream) Close() error { return nil }

// A call's setup, metering and end allocate its id, its state (the text
// controls with their end's queue, meter, Call, context values, record:
// one allocation), the request's copy for the upstream and its
// cancellation: 5 allocations as AllocsPerRun counts them (6 with the
// controls an allocation of their own; 19 when each piece was one or
// more of its own).
func TestCallAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := &fixedStream{usage: stream.Usage{PromptTokens: 8, CompletionTokens: 1}}
	p := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		s.i = 0
		return s, nil
	})
	r := gateway.NewStaticRouter()
	r.Register("p", p)
	gw := gateway.New(gateway.Options{Router: r})
	req := chat("p/m")
	ctx := context.Background()
	n := testing.AllocsPerRun(200, func() {
		c, err := gw.Start(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := c.Recv(); err != nil {
				break
			}
		}
		if u := c.Summary().Usage; u.CompletionTokens != 1 {
			t.Fatalf("usage %+v", u)
		}
		c.Close()
	})
	if n > 5 {
		t.Errorf("%.0f allocations a call, want at most 5", n)
	}
}
