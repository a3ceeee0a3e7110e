package dialect

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// countPrefetch counts its Prefetch calls.
type countPrefetch struct{ n int }

func (c *countPrefetch) Prefetch() { c.n++ }

// TestWaiterPrefetchesOnWake: a plain call's Waiter is told after each
// read that brought bytes (sse.AfterWaiter), and then has the upstream
// stream registered with it (WakesUp) prefetch; a Waiter of another kind
// ignores WakesUp.
func TestWaiterPrefetchesOnWake(t *testing.T) {
	wf := new(waitFlush)
	wf.ctx.Set(context.Background(), wf)
	w := stream.BeforeWait(&wf.ctx)
	if _, ok := w.(sse.AfterWaiter); !ok {
		t.Fatalf("the call's Waiter %T is no sse.AfterWaiter", w)
	}
	up := new(countPrefetch)
	WakesUp(w, up)
	r := sse.NewReader(strings.NewReader("data: a\n\ndata: b\n\n"))
	r.SetBeforeRead(w)
	for {
		if _, err := r.NextRaw(); err != nil {
			break
		}
	}
	if up.n != 1 { // one read brought both events; the next brought the end
		t.Errorf("prefetched %d times, want 1", up.n)
	}

	other := new(countPrefetch)
	WakesUp(stream.BeforeWait(stream.WithBeforeWait(context.Background(), func() {})), other)
	WakesUp(nil, other)
	if other.n != 0 {
		t.Errorf("another Waiter's prefetcher ran %d times", other.n)
	}
}

// TestUpstreamPrefetch: an upstream stream with a token path registers
// itself with its call's Waiter when its reader is made, and its
// Prefetch runs with or without a token shape.
func TestUpstreamPrefetch(t *testing.T) {
	wf := new(waitFlush)
	wf.ctx.Set(context.Background(), wf)
	var sh Shape
	u := NewTokenUpstream(&wf.ctx, func() {}, &sh)
	u.Begin(io.NopCloser(strings.NewReader("data: x\n\n")), EventFunc(func() ([]stream.Event, error) { return nil, nil }))
	u.Events(1 << 10)
	if wf.up != Prefetcher(&u.UpstreamStream) {
		t.Errorf("registered %v, want the stream", wf.up)
	}
	u.Prefetch()
	new(UpstreamStream).Prefetch()
}
