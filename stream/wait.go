package stream

import "context"

// A writer that flushes every event makes one write per token, where a
// proxy makes one per read: events that arrived together leave together.
// BeforeWait lets a writer do the same without ever holding an event back:
// it writes events unflushed and flushes when the stream is about to wait
// for its source, which is the only time a reader on the same goroutine
// could be kept waiting.

type beforeWaitKey struct{}

// A Waiter is told before a stream waits for its source: a writer that
// flushes then.
type Waiter interface{ BeforeWait() }

// waitFunc is a function as a Waiter.
type waitFunc func()

func (f waitFunc) BeforeWait() { f() }

// WithBeforeWait returns a context whose streams, if their provider is a
// WaitNotifier, call f before every read that may wait for their source
// (a socket read). f runs on the goroutine calling Recv and must not block
// for long.
func WithBeforeWait(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, beforeWaitKey{}, Waiter(waitFunc(f)))
}

// WaitContext is WithBeforeWait's context, for a caller that keeps it in
// a struct of its own rather than have WithBeforeWait allocate one, and
// whose Waiter is a value it has (a method value, as a func, would be an
// allocation a call).
type WaitContext struct {
	context.Context
	w Waiter
}

// Set makes c ctx with w told before every wait, as WithBeforeWait's f.
func (c *WaitContext) Set(ctx context.Context, w Waiter) { c.Context, c.w = ctx, w }

func (c *WaitContext) Value(key any) any {
	if key == (beforeWaitKey{}) {
		return c.w
	}
	return c.Context.Value(key)
}

// BeforeWait returns the Waiter that WithBeforeWait or a WaitContext set,
// or nil.
func BeforeWait(ctx context.Context) Waiter {
	w, _ := ctx.Value(beforeWaitKey{}).(Waiter)
	return w
}

// WaitNotifier is implemented by providers whose streams call the
// context's BeforeWait function before every wait for their source, so
// that a caller reading them on its own goroutine knows that nothing it
// wrote is left unflushed while Recv waits. Wrappers do not forward it:
// one that waits on something else (a buffer goroutine) must not claim it.
type WaitNotifier interface {
	NotifiesBeforeWait() bool
}
