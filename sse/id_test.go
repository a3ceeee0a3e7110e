package sse

import (
	"fmt"
	"testing"
)

// FuzzWriterIDs holds the id lines counted up in place (appendID) to the
// ids encoded afresh, across carries (9, 99, 999 and on), with prefixes
// that end in digits.
func FuzzWriterIDs(f *testing.F) {
	for _, last := range []uint64{0, 8, 9, 97, 999, 1<<63 - 3, 1<<64 - 25} {
		f.Add(last, "", uint8(30))
	}
	f.Add(uint64(89), "rs_9-", uint8(20))
	f.Add(uint64(7), "99", uint8(120))
	f.Fuzz(func(t *testing.T, last uint64, prefix string, n uint8) {
		if last > 1<<64-1-uint64(n) {
			return // the id would wrap
		}
		for _, c := range prefix {
			if c == '\n' || c == '\r' {
				return
			}
		}
		l := &frameLog{}
		w := NewLogWriter(l, Options{IDPrefix: prefix, LastID: last})
		for range n {
			must(t, w.SendString("", "x"))
		}
		for i, frame := range l.frames {
			id := last + uint64(i) + 1
			if want := fmt.Sprintf("id: %s%d\ndata: x\n\n", prefix, id); string(frame) != want || l.ids[i] != id {
				t.Fatalf("event %d: %q (id %d), want %q", id, frame, l.ids[i], want)
			}
		}
	})
}
