package stream_test

import (
	"context"
	"testing"

	"github.com/runnel/runnel/stream"
)

type key struct{}

// counter counts the waits it is told of.
type counter struct{ n *int }

func (c counter) BeforeWait() { *c.n++ }

// A WaitContext carries its function as WithBeforeWait's context does, and
// its parent's values and cancellation.
func TestWaitContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	n := 0
	var c stream.WaitContext
	c.Set(parent, counter{&n})
	for _, ctx := range []context.Context{&c, stream.WithBeforeWait(parent, func() { n++ })} {
		stream.BeforeWait(ctx).BeforeWait()
		if ctx.Value(key{}) != "v" {
			t.Error("the parent's value is lost")
		}
	}
	if n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	if stream.BeforeWait(parent) != nil {
		t.Error("the parent has a BeforeWait function")
	}
	cancel()
	if c.Err() == nil {
		t.Error("not cancelled with its parent")
	}
}
