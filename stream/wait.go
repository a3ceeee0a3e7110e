package stream

import "context"

// A writer that flushes every event makes one write per token, where a
// proxy makes one per read: events that arrived together leave together.
// BeforeWait lets a writer do the same without ever holding an event back:
// it writes events unflushed and flushes when the stream is about to wait
// for its source, which is the only time a reader on the same goroutine
// could be kept waiting.

type beforeWaitKey struct{}

// WithBeforeWait returns a context whose streams, if their provider is a
// WaitNotifier, call f before every read that may wait for their source
// (a socket read). f runs on the goroutine calling Recv and must not block
// for long.
func WithBeforeWait(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, beforeWaitKey{}, f)
}

// WaitContext is WithBeforeWait's context, for a caller that keeps it in
// a struct of its own rather than have WithBeforeWait allocate one.
type WaitContext struct {
	context.Context
	f func()
}

// Set makes c ctx with f as its BeforeWait function.
func (c *WaitContext) Set(ctx context.Context, f func()) { c.Context, c.f = ctx, f }

func (c *WaitContext) Value(key any) any {
	if key == (beforeWaitKey{}) {
		return c.f
	}
	return c.Context.Value(key)
}

// BeforeWait returns the function set by WithBeforeWait, or nil.
func BeforeWait(ctx context.Context) func() {
	f, _ := ctx.Value(beforeWaitKey{}).(func())
	return f
}

// WaitNotifier is implemented by providers whose streams call the
// context's BeforeWait function before every wait for their source, so
// that a caller reading them on its own goroutine knows that nothing it
// wrote is left unflushed while Recv waits. Wrappers do not forward it:
// one that waits on something else (a buffer goroutine) must not claim it.
type WaitNotifier interface {
	NotifiesBeforeWait() bool
}
