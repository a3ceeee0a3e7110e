package dialect

import (
	"testing"

	"github.com/runnel/runnel/stream"
)

var requestSink *stream.Request

// NewRequest's request has room for n messages, and up to four of them
// are in the request's allocation.
func TestNewRequest(t *testing.T) {
	for n := range 7 {
		r := NewRequest(n)
		if len(r.Messages) != 0 || cap(r.Messages) < n || r.Messages == nil {
			t.Fatalf("NewRequest(%d): %d messages of room %d", n, len(r.Messages), cap(r.Messages))
		}
		want := 1.0
		if n > 4 {
			want = 2
		}
		if a := testing.AllocsPerRun(10, func() { requestSink = NewRequest(n) }); a != want {
			t.Errorf("NewRequest(%d): %v allocations, want %v", n, a, want)
		}
	}
}
