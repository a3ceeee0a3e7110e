package gateway

import (
	"context"
	"io"

	"github.com/runnel/runnel/stream"
)

// FallbackTarget is one provider of a Fallback chain.
type FallbackTarget struct {
	Name     string // the provider's routing name, for records and metrics
	Model    string // the model as that provider knows it
	Provider stream.Provider
}

// Fallback is a Provider that tries its targets in order until one starts.
// A target has failed when its Stream returns an error or when its stream's
// first event is an error; once a target has sent anything else it serves
// the call to the end, and a later error is the client's to see (tokens
// already sent cannot be taken back). Stream waits for the serving target's
// first event, which it then replays. The caller's cancellation stops the
// chain. With every target failed, the last error is returned.
//
// The request's Model is replaced by each target's own model.
type Fallback struct {
	Targets []FallbackTarget
}

// servedKey marks the context value through which a Fallback tells the
// gateway which target served the call.
type servedKey struct{}

type served struct {
	provider, model string
	p               stream.Provider // the serving provider, for its TokenCounter
}

// Stream implements stream.Provider.
func (f *Fallback) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	KeepRequest(ctx) // a second target reads the request after the first encoded it
	var last error = stream.Errorf(stream.CodeInternal, "fallback chain with no targets")
	for _, t := range f.Targets {
		r := *req // providers only read the rest (see Gateway.begin)
		r.Model = t.Model
		s, err := t.Provider.Stream(ctx, &r)
		if err == nil {
			var first stream.Event
			first, err = s.Recv()
			if err == nil && first.Kind == stream.KindError {
				err = first.Err
			}
			if err == nil || err == io.EOF {
				if sv, ok := ctx.Value(servedKey{}).(*served); ok {
					sv.provider, sv.model, sv.p = t.Name, t.Model, t.Provider
				}
				return &replay{Stream: s, first: first, eof: err == io.EOF}, nil
			}
			s.Close()
		}
		if ctx.Err() != nil {
			return nil, stream.AsError(context.Cause(ctx))
		}
		if e := stream.AsError(err); e.Code == stream.CodeCancelled {
			return nil, e
		}
		last = err
	}
	return nil, stream.AsError(last)
}

// replay returns first before the rest of Stream.
type replay struct {
	stream.Stream
	first stream.Event
	eof   bool // the stream was empty
	done  bool
}

func (r *replay) Recv() (stream.Event, error) {
	if !r.done {
		r.done = true
		if r.eof {
			return stream.Event{}, io.EOF
		}
		return r.first, nil
	}
	return r.Stream.Recv()
}
