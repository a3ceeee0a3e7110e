package gateway_test

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/runnel/runnel/gateway"
)

// EventClock tells when the latest event came, since the call started:
// the meter's reading for it, deltas and the events after them alike.
func TestEventClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(nil)
		c, err := r.gw.Start(context.Background(), chat("mock/default?tokens=3&ttft=5ms&itl=2ms"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clk := c.EventClock()
		if clk == nil || *clk != 0 {
			t.Fatalf("before the first event: %v", clk)
		}
		for n := 0; ; n++ {
			_, err := c.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := *clk, time.Since(c.Started); got != want {
				t.Fatalf("event %d: EventTime %v, want %v", n, got, want)
			}
		}
		if got := *clk; got != 9*time.Millisecond {
			t.Fatalf("at the end: %v, want 9ms (virtual time)", got)
		}
		if (&gateway.Call{}).EventClock() != nil {
			t.Fatal("a call without a meter has a clock")
		}
	})
}
