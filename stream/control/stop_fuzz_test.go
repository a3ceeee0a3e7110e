package control

import (
	"context"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// FuzzStop checks, for any text cut into tokens at any points and any two
// stops, that the output never holds a stop, and that it is either the
// whole text (no stop reported) or the text up to the stop the finish
// names.
func FuzzStop(f *testing.F) {
	f.Add("one two END three", "END", "ZZ", uint64(0x0305))
	f.Add("abcd", "cd", "bc", uint64(1))
	f.Add("aaab", "aab", "b", uint64(0x010101))
	f.Add("no stop here", "xyz", "", uint64(0))
	f.Add("é!é!", "é!", "!", uint64(0x02))
	f.Fuzz(func(t *testing.T, text, s1, s2 string, cuts uint64) {
		var tokens []string
		rest := text
		for cuts != 0 && rest != "" {
			n := int(cuts&0xff)%len(rest) + 1
			tokens = append(tokens, rest[:n])
			rest, cuts = rest[n:], cuts>>8
		}
		if rest != "" {
			tokens = append(tokens, rest)
		}
		s, err := Normalize(Stop(&script{events: deltas(tokens...)}, s1, s2)).Stream(context.Background(), &stream.Request{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r := stream.Collect(s)
		if r.Finish != stream.FinishStop || r.Err != nil {
			t.Fatalf("finish %s err %v", r.Finish, r.Err)
		}
		stops := []string{s1, s2}
		// The output never holds a stop, and it is the text up to one.
		for _, st := range stops {
			if st != "" && strings.Contains(r.Text, st) {
				t.Fatalf("tokens %q stops %q: output %q holds stop %q", tokens, stops, r.Text, st)
			}
		}
		switch {
		case r.StopSequence == "":
			if r.Text != text {
				t.Fatalf("tokens %q stops %q: no stop reported, output %q", tokens, stops, r.Text)
			}
		case r.StopSequence != s1 && r.StopSequence != s2:
			t.Fatalf("tokens %q stops %q: reported stop %q", tokens, stops, r.StopSequence)
		case !strings.HasPrefix(text, r.Text+r.StopSequence):
			t.Fatalf("tokens %q stops %q: output %q then stop %q is not how the text starts", tokens, stops, r.Text, r.StopSequence)
		}
	})
}
