package dialect

import (
	"strings"
	"testing"
)

// matchesAnyRef is what MatchesAny must say: strings.EqualFold, which is
// how encoding/json matches a key to a field's name, against each name.
func matchesAnyRef(key string, names ...string) bool {
	for _, name := range names {
		if strings.EqualFold(key, name) {
			return true
		}
	}
	return false
}

var matchNames = []string{"candidates", "usageMetadata", "promptFeedback", "modelVersion", "error", "id", "tool_use_id", "is_error", "a[b", "x{y"}

func TestMatchesAny(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want bool
	}{
		{"responseId", false},
		{"candidates", true},
		{"CANDIDATES", true},
		{"usagemetadata", true},
		{"ERROR", true},
		{"errors", false},
		{"err", false},
		{"ID", true},
		{"Tool_Use_Id", true},
		{"TOOL_USE_ID", true},
		{"tool-use-id", false},
		{"tool_use_iD", true},
		{"is_\u212Arror", false},
		{"\u212Aandidates", false},
		{"i\u017F_error", true},    // ſ folds to s
		{"tool_u\u017Fe_id", true}, // ſ, one byte longer
		{"tool_u\u017Fe_i", false}, // as long as the name, not folding to it
		{"a{b", false},             // [ and { differ by the case bit, not letters
		{"A[B", true},
		{"x[y", false},
		{"", false},
	} {
		if got := MatchesAny(tt.key, matchNames...); got != tt.want || got != matchesAnyRef(tt.key, matchNames...) {
			t.Errorf("MatchesAny(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

// FuzzMatchesAny holds MatchesAny to strings.EqualFold for ASCII names,
// and isASCII to a look at each rune.
func FuzzMatchesAny(f *testing.F) {
	for _, k := range []string{"responseId", "ERROR", "i\u017F_error", "\u212Ad", "a{b", "modelversion", "usageMetadata\u212A", "0123456\xff89"} {
		f.Add(k, "kd")
	}
	f.Fuzz(func(t *testing.T, key, name string) {
		if want := !strings.ContainsFunc(key, func(r rune) bool { return r >= 0x80 }); isASCII(key) != want {
			t.Fatalf("isASCII(%q) = %v", key, !want)
		}
		for i := 0; i < len(name); i++ {
			if name[i] >= 0x80 {
				return // names are ASCII
			}
		}
		names := append([]string{name}, matchNames...)
		if got, want := MatchesAny(key, names...), matchesAnyRef(key, names...); got != want {
			t.Fatalf("MatchesAny(%q, %q) = %v, want %v", key, names, got, want)
		}
	})
}
