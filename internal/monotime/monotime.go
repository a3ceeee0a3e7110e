// Package monotime reads the monotonic clock as time.Since does, without
// its frames: for a reading a token, measured from a start read once.
package monotime

import (
	"time"
	_ "unsafe" // go:linkname
)

// Now is the runtime's monotonic clock in nanoseconds, from an origin of
// its own: what time.Since reads under two frames of its own
// (time.runtimeNano, with a check for a synctest bubble). The runtime
// keeps it for linkname (go.dev/issue/67401).
//
//go:linkname Now runtime.nanotime
func Now() int64

// Since returns time.Since(start) and start's reading of Now, from which
// later readings are Now() - base: the base is found from this reading
// (Now's, just after time.Since's), so those may be early by the
// nanoseconds between the two. base is 0 for a start without a monotonic
// reading (a time from elsewhere, or a synctest bubble's, which has fake
// time), whose readings time.Since must take.
func Since(start time.Time) (d time.Duration, base int64) {
	d = time.Since(start)
	if start != start.Round(0) { // Round(0) strips a monotonic reading
		base = Now() - int64(d)
	}
	return d, base
}
