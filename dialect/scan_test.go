package dialect

import (
	"strings"
	"testing"
)

// RawString takes exactly the strings Str takes, ends where Str ends, and
// builds no string: its bytes are the caller's to decode.
func TestRawStringTakesWhatStrTakesWithoutAllocating(t *testing.T) {
	for _, c := range []struct {
		name, in string
		ok       bool
	}{
		{"plain", `"hello"`, true},
		{"long plain", `"` + strings.Repeat("x", 8192) + `"`, true},
		{"escapes", `"a\"b\\c\/d\b\f\n\r\t"`, true},
		{"unicode escape", `"caf\u00e9 \u20AC"`, true},
		{"escape, then UTF-8", `"\n` + "é€😀" + `"`, true},
		{"UTF-8 only", `"é€😀"`, true},
		{"surrogate escape", `"\ud83d\ude00"`, false},
		{"bad escape", `"\x"`, false},
		{"short unicode escape", `"\u00e"`, false},
		{"control byte", "\"a\x01\"", false},
		{"invalid UTF-8", "\"a\xff\"", false},
		{"unterminated", `"abc`, false},
		{"unterminated after an escape", `"a\n`, false},
		{"not a string", `123`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in + ` ,`)
			s := NewJSONScanner(in)
			want, ok := s.Str()
			if ok != c.ok {
				t.Fatalf("Str: ok %v, want %v", ok, c.ok)
			}
			end := s.i
			r := NewJSONScanner(in)
			raw, rok := r.RawString()
			if rok != ok {
				t.Fatalf("RawString: ok %v, Str's %v", rok, ok)
			}
			if !ok {
				return
			}
			if r.i != end || string(raw) != c.in {
				t.Fatalf("RawString: %q, ending at %d; want %q, ending at %d", raw, r.i, c.in, end)
			}
			if c.in == `"hello"` && want != "hello" {
				t.Fatalf("Str: %q", want)
			}
			if n := testing.AllocsPerRun(100, func() { NewJSONScanner(in).RawString() }); n > 1 {
				t.Errorf("RawString: %v allocations, want at most the scanner's", n)
			}
		})
	}
}

// TestKeySet: each key its own bit; a key of another length, case or
// spelling none.
func TestKeySet(t *testing.T) {
	keys := []string{"model", "messages", "stream", "n", "top_p", "top_k", "max_tokens"}
	set := NewKeySet(keys...)
	var seen uint32
	for _, k := range keys {
		b := set.bit([]byte(k))
		if b == 0 || b&(b-1) != 0 || seen&b != 0 {
			t.Fatalf("%s: bit %b, seen %b", k, b, seen)
		}
		seen |= b
	}
	for _, k := range []string{"", "Model", "mode", "models", "top_q", "N", "max_token", "message"} {
		if b := set.bit([]byte(k)); b != 0 {
			t.Errorf("%q: bit %b, want none", k, b)
		}
	}
}
