package monotime

import (
	"testing"
	"testing/synctest"
	"time"
)

// Readings from the base are time.Since's, to within the nanoseconds
// between two readings, and never go back.
func TestSinceBase(t *testing.T) {
	start := time.Now()
	time.Sleep(time.Millisecond)
	d, base := Since(start)
	if base == 0 || d < time.Millisecond {
		t.Fatalf("Since = %v, %d", d, base)
	}
	last := d
	for range 1000 {
		before := time.Since(start)
		got := time.Duration(Now() - base)
		after := time.Since(start)
		if got < last || got > after || got < before-time.Millisecond {
			t.Fatalf("reading %v after %v, between %v and %v", got, last, before, after)
		}
		last = got
	}
}

// A start without a monotonic reading has no base: a synctest bubble's
// fake time, or a time from elsewhere.
func TestSinceWithoutMonotonic(t *testing.T) {
	if _, base := Since(time.Now().Round(0)); base != 0 {
		t.Fatalf("base %d for a wall-clock time", base)
	}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		time.Sleep(time.Second)
		if d, base := Since(start); base != 0 || d != time.Second {
			t.Fatalf("in a bubble: %v, %d", d, base)
		}
	})
}
