package dialect

import (
	"strings"
	"testing"
)

// TestTextsKeep: every kept string stays what it was while its source is
// written over, across the blocks' refills and beside strings too long
// for a block; short ones share blocks.
func TestTextsKeep(t *testing.T) {
	var ts Texts
	src := make([]byte, 200)
	var got, want []string
	for i := range 300 {
		n := i * 7 % 90
		for j := range n {
			src[j] = byte('a' + (i+j)%26)
		}
		s := string(src[:n])
		got, want = append(got, ts.Keep(string(src[:n]))), append(want, s)
		clear(src)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d became %q, want %q", i, got[i], want[i])
		}
	}
	if n := testing.AllocsPerRun(100, func() { ts.Keep(" token") }); n > 0.1 {
		t.Fatalf("Keep of a token allocates %v times a call", n)
	}
	long := strings.Repeat("x", textsBlock)
	if ts.Keep(long) != long {
		t.Fatal("a long string changed")
	}
}
