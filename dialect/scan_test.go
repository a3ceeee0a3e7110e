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
// spelling none; the same whether the set found a perfect hash or
// probes (a set whose names share their length and first, middle and
// last bytes).
func TestKeySet(t *testing.T) {
	same := make([]string, 32)
	for i := range same {
		same[i] = "k" + string(rune('a'+i/8)) + "m" + string(rune('a'+i%8)) + "k"
	}
	for _, c := range []struct {
		keys, not []string
		hashed    bool
	}{
		{[]string{"model", "messages", "stream", "n", "top_p", "top_k", "max_tokens"},
			[]string{"Model", "mode", "models", "top_q", "N", "max_token", "message", "top_pp", "x"}, true},
		{same, []string{"kk", "kxmak", "kamik", "kanak", "kamakk", "Kamak", "kam", "kamk"}, false},
	} {
		set := NewKeySet(c.keys...)
		if hashed := !set.t.probed; hashed != c.hashed {
			t.Errorf("%q: hashed %v, want %v", c.keys, hashed, c.hashed)
		}
		var seen uint32
		for _, k := range c.keys {
			b := set.t.bit([]byte(k))
			if b == 0 || b&(b-1) != 0 || seen&b != 0 {
				t.Fatalf("%s: bit %b, seen %b", k, b, seen)
			}
			seen |= b
		}
		for _, k := range c.not {
			if b := set.t.bit([]byte(k)); b != 0 {
				t.Errorf("%q: bit %b, want none", k, b)
			}
		}
	}
}

// TestScannerFields: Fields reads an object of the set's keys, whitespace
// anywhere, each key once, and nothing else: a key outside the set, one
// given twice, one with an escape or longer than any of the set's, a
// bad separator, or an object of a zero KeySet.
func TestScannerFields(t *testing.T) {
	set := NewKeySet("a", "bb", "ccc")
	for _, c := range []struct {
		in   string
		keys KeySet
		want string // the keys read, in order; "!" for false
	}{
		{`{}`, set, ""},
		{" \t\r\n{ \n} ", set, ""},
		{`{"a":1}`, set, "a"},
		{` { "a" : 1 , "bb":2,"ccc" :3 } `, set, "a bb ccc"},
		{`{"ccc":1,"a":2}`, set, "ccc a"},
		{`{"a":1,"a":2}`, set, "!"},
		{`{"d":1}`, set, "!"},
		{`{"":1}`, set, "!"},
		{`{"b\u0062":1}`, set, "!"},
		{`{"a\"":1}`, set, "!"},
		{`{"cccc":1}`, set, "!"},
		{`{"ccc`, set, "!"},
		{`{"a"`, set, "!"},
		{`{"a" 1}`, set, "!"},
		{`{"a":1 "bb":2}`, set, "!"},
		{`{"a":1,}`, set, "!"},
		{`{,"a":1}`, set, "!"},
		{`{"a":1`, set, "!"},
		{`{'a':1}`, set, "!"},
		{`["a"]`, set, "!"},
		{`{"a":1}`, KeySet{}, "!"},
		{`{}`, KeySet{}, ""},
	} {
		s := NewJSONScanner([]byte(c.in))
		var got []string
		ok := s.Fields(c.keys, func(key []byte) bool {
			got = append(got, string(key))
			_, ok := s.Int()
			return ok
		}) && s.End()
		g := strings.Join(got, " ")
		if !ok {
			g = "!"
		}
		if g != c.want {
			t.Errorf("%s: %q, want %q", c.in, g, c.want)
		}
	}
}

// TestNewKeySetPlainKeys: a key the scanner could not find as it stands
// is refused when the set is made.
func TestNewKeySetPlainKeys(t *testing.T) {
	for _, k := range []string{"", `a"b`, `a\\b`, "a\tb", "é"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q: no panic", k)
				}
			}()
			NewKeySet("a", k)
		}()
	}
}
