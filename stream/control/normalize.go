package control

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/runnel/runnel/stream"
)

// Normalize returns a Provider whose streams always have the shape documented
// on stream.Event, whatever p does:
//
//   - empty deltas, nil tool calls and nil usages are dropped, and a delta
//     with no channel goes to the output channel;
//   - usage events are held and the last one is sent just before the end, so
//     there is at most one, after all content (an upstream that reports usage
//     after its finish, as OpenAI does, still gets it through);
//   - a Finish is held until p's stream ends, then sent last; events after it
//     are dropped;
//   - an Error event, a Finish(error) without one, or a Recv error becomes
//     Error followed by Finish(error), using stream.AsError;
//   - cancellation (of ctx, or by Close) becomes Finish(cancelled);
//   - a stream that ends without a Finish gets Finish(stop), or
//     Finish(tool_calls) if it called tools;
//   - then Recv returns io.EOF for good, and the inner stream is closed.
//
// Errors from p.Stream are returned as *stream.Error.
func Normalize(p stream.Provider) stream.Provider {
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		in, err := p.Stream(ctx, req)
		if err != nil {
			return nil, stream.AsError(err)
		}
		return &normalized{ctx: ctx, in: in}, nil
	})
}

type normalized struct {
	ctx    context.Context
	in     stream.Stream
	q      queue
	usage  *stream.Usage
	finish stream.FinishReason // held until the inner stream ends
	stop   string              // the finish's stop sequence, if any
	tools  bool
	closed atomic.Bool
	once   sync.Once
}

func (n *normalized) Recv() (stream.Event, error) {
	for {
		if n.q.pending() {
			ev, err, _ := n.q.pop()
			return ev, err
		}
		if ev, ok := n.take(n.in.Recv()); ok {
			return ev, nil
		}
	}
}

// take completes what Recv received: false when it holds nothing to pass
// on (yet). Out of line, for a small Recv frame (see utf8Stream.take).
//
//go:noinline
func (n *normalized) take(ev stream.Event, err error) (stream.Event, bool) {
	if err == io.EOF {
		reason := n.finish
		if reason == "" {
			reason = stream.FinishStop
			if n.tools {
				reason = stream.FinishToolCalls
			}
		}
		n.end(nil, reason)
		return ev, false
	}
	if err != nil {
		if n.finish != "" {
			// The upstream already said how it ended; a transport
			// error after that loses nothing.
			n.end(nil, n.finish)
		} else {
			n.fail(stream.AsError(err))
		}
		return ev, false
	}
	if n.finish != "" && ev.Kind != stream.KindUsage {
		return ev, false
	}
	switch ev.Kind {
	case stream.KindDelta:
		if ev.Text == "" {
			return ev, false
		}
		if ev.Channel == "" {
			ev.Channel = stream.Output
		}
		return ev, true
	case stream.KindToolCall:
		if ev.ToolCall == nil {
			return ev, false
		}
		n.tools = true
		return ev, true
	case stream.KindUsage:
		if ev.Usage != nil {
			n.usage = ev.Usage
		}
	case stream.KindFinish:
		switch ev.Finish {
		case stream.FinishError:
			n.fail(stream.Errorf(stream.CodeUpstream, "the provider ended the stream with an error"))
		case "":
			n.finish = stream.FinishStop
		default:
			n.finish, n.stop = ev.Finish, ev.StopSequence()
		}
	case stream.KindError:
		e := ev.Err
		if e == nil {
			e = stream.Errorf(stream.CodeUpstream, "the provider reported an unspecified error")
		}
		n.fail(e)
	}
	return ev, false
}

// fail ends the stream after an error: Finish(cancelled) if the caller went
// away, else Error and Finish(error). A context cancelled with a
// *stream.Error for cause (a server shutting down) is not a caller gone:
// the stream ends with that error, which the client is still there to read.
func (n *normalized) fail(e *stream.Error) {
	if !n.closed.Load() && n.ctx.Err() != nil {
		var cause *stream.Error
		if errors.As(context.Cause(n.ctx), &cause) {
			n.end(cause, stream.FinishError)
			return
		}
	}
	if n.closed.Load() || n.ctx.Err() != nil || e.Code == stream.CodeCancelled {
		n.end(nil, stream.FinishCancelled)
		return
	}
	n.end(e, stream.FinishError)
}

func (n *normalized) end(e *stream.Error, reason stream.FinishReason) {
	if n.usage != nil {
		n.q.push(stream.Event{Kind: stream.KindUsage, Usage: n.usage})
	}
	if e != nil {
		n.q.push(stream.ErrorEvent(e))
	}
	if reason == n.finish && n.stop != "" {
		n.q.push(stream.StoppedBy(n.stop))
	} else {
		n.q.push(stream.Finished(reason))
	}
	n.q.end()
	n.closeInner()
}

func (n *normalized) closeInner() { n.once.Do(func() { n.in.Close() }) }

// Finish forwards to the inner stream; see stream.Finisher.
func (n *normalized) Finish(r stream.FinishReason) bool { return stream.Finish(n.in, r) }

func (n *normalized) Close() error {
	n.closed.Store(true)
	n.closeInner()
	return nil
}
