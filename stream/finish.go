package stream

import (
	"context"
	"sync"
	"sync/atomic"
)

// Finisher is a Stream that can be ended gracefully: asked to stop
// generating, it still reports what it generated. Controls that end a stream
// early (a stop sequence, max_tokens) use it instead of Close, so a provider
// that knows its exact usage (the engine, the mock) reports it rather than
// leaving the gateway to estimate.
//
// Finish asks the stream to end with reason. It reports whether the stream
// will: a false result (a provider that cannot, or a wrapper around one)
// leaves the stream untouched, and the caller should Close it instead. After
// a true result the stream:
//
//   - stops producing content promptly (the engine at its next decode step);
//     content already produced or buffered may still arrive, and callers
//     ignore it;
//   - then sends its Usage, counting every token it generated, and a Finish
//     event with reason, then Recv returns io.EOF.
//
// A stream whose content had already ended keeps its own finish. Finish is
// safe to call more than once (only the first reason counts) and
// concurrently with Recv; Close still cancels everything at once, whether
// Finish was called or not, and must still be called.
//
// Wrappers of a Stream implement Finish by forwarding to the stream they
// wrap, so support is decided by the provider at the bottom.
type Finisher interface {
	Finish(reason FinishReason) bool
}

// Finish asks s to end gracefully with reason (see Finisher) and reports
// whether it will. It is false when s is not a Finisher.
func Finish(s Stream, reason FinishReason) bool {
	f, ok := s.(Finisher)
	return ok && f.Finish(reason)
}

// GoFinisher is Go for producers that may be able to end gracefully: the
// stream it returns is a Finisher whose Finish calls finish with the reason,
// once, from the caller's goroutine and concurrently with produce, and
// reports what it returned (later calls report the same). finish must not
// block; returning true, it has told the producer (by a FinishRequest it
// checks between tokens, or by waking whatever it waits on) to stop
// generating, and produce then emits its usage and a Finish event with that
// reason and returns.
func GoFinisher(ctx context.Context, size int, produce func(ctx context.Context, emit func(Event) bool) error, finish func(FinishReason) bool) Stream {
	return goPipe(ctx, size, produce, finish)
}

// Finish implements Finisher for streams made by GoFinisher; streams made
// by Go report false.
func (p *pipe) Finish(reason FinishReason) bool {
	if p.finish == nil {
		return false
	}
	p.finishOnce.Do(func() { p.finished = p.finish(reason) })
	return p.finished
}

// pipeFinish is a pipe's Finish state.
type pipeFinish struct {
	finish     func(FinishReason) bool
	finishOnce sync.Once
	finished   bool
}

// FinishRequest is a producer's side of Finish: a flag it checks between
// tokens, set from any goroutine. Its zero value is unset. It does not
// allocate on either side, so a per-token check costs one atomic load.
type FinishRequest struct {
	reason atomic.Pointer[FinishReason]
}

// Set records reason unless a reason was already set.
func (f *FinishRequest) Set(reason FinishReason) {
	f.reason.CompareAndSwap(nil, &reason)
}

// Requested returns the reason set, if any.
func (f *FinishRequest) Requested() (FinishReason, bool) {
	if r := f.reason.Load(); r != nil {
		return *r, true
	}
	return "", false
}
