package control

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/runnel/runnel/stream"
)

// DefaultBufferSize is the per-stream buffer, in events, when none is set.
const DefaultBufferSize = 64

// Buffer returns a Provider that reads p's streams in their own goroutine
// into a buffer of size events (DefaultBufferSize if size <= 0), so the
// producer can run ahead of a reader by that much and no further: when the
// buffer is full the producer stalls until the reader catches up. Closing
// the stream or cancelling ctx closes the inner stream and waits for the
// goroutine to end. Finish is forwarded to the inner stream.
func Buffer(p stream.Provider, size int) stream.Provider {
	if size <= 0 {
		size = DefaultBufferSize
	}
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		in, err := p.Stream(ctx, req)
		if err != nil {
			return nil, err
		}
		return stream.GoFinisher(ctx, size, func(ctx context.Context, emit func(stream.Event) bool) error {
			// A Recv blocked in a provider that ignores ctx still
			// returns once its stream is closed. A Stream's Close may
			// run alongside its Recv but not alongside itself, and ctx
			// can end as the goroutine closes in: once, the other
			// caller waiting for it, so nothing outlives Close.
			var first atomic.Bool
			closed := make(chan struct{})
			closeIn := func() {
				if first.CompareAndSwap(false, true) {
					in.Close()
					close(closed)
				}
				<-closed
			}
			stop := context.AfterFunc(ctx, closeIn)
			defer stop()
			defer closeIn()
			for {
				ev, err := in.Recv()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if !emit(ev) {
					return context.Cause(ctx)
				}
			}
		}, func(r stream.FinishReason) bool { return stream.Finish(in, r) }), nil
	})
}
