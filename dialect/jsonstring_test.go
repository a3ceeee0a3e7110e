package dialect

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "hello", "a\"b\\c", "tab\tnl\nret\r", "\x00\x1f", "<&>", "héllo 世界 😀", "\u2028\u2029", "bad\xffutf8", "\xe4\xb8"} {
		got := AppendJSONString(nil, s)
		want, _ := json.Marshal(s)
		if string(got) != string(want) {
			t.Errorf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestAppendMarshalledString: \b and \f by name, as json.Marshal writes
// them (AppendJSONString writes them as \u0008 and \u000c).
func TestAppendMarshalledString(t *testing.T) {
	for _, s := range []string{"", "a\bb\fc", "\x00\x1f\t<&>\u2028", "bad\xff", "é😀"} {
		want, _ := json.Marshal(s)
		if got := AppendMarshalledString(nil, s); string(got) != string(want) {
			t.Errorf("AppendMarshalledString(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzAppendJSONString: both appenders write what json.Marshal writes
// (AppendJSONString but for \b and \f), and the result decodes back.
func FuzzAppendJSONString(f *testing.F) {
	f.Add("hello \"world\"\n")
	f.Add("\xff\u2028<>")
	f.Add("\b\f\x01")
	f.Add(" story")
	f.Add(" <tag>\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendMarshalledString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendMarshalledString(%q) = %s, want %s", s, got, want)
		}
		got := AppendJSONString(nil, s)
		if string(got) != string(want) && !bytes.ContainsAny([]byte(s), "\b\f") {
			t.Fatalf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
		// Into a buffer with room, as the SSE writer's (a short string
		// is copied a byte at a time there): the same bytes after what
		// the buffer held.
		roomy := append(make([]byte, 0, 64), "data: "...)
		if r := AppendJSONString(roomy, s); string(r) != "data: "+string(got) {
			t.Fatalf("AppendJSONString(%q) into room = %s, want %s", s, r, got)
		}
		if r := AppendMarshalledString(roomy, s); string(r) != "data: "+string(want) {
			t.Fatalf("AppendMarshalledString(%q) into room = %s, want %s", s, r, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip %q -> %q", s, back)
		}
	})
}

func BenchmarkAppendJSONString(b *testing.B) {
	buf := make([]byte, 0, 256)
	s := "The quick brown fox \"jumps\" over the lazy dog.\n"
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSONString(buf[:0], s)
	}
}
