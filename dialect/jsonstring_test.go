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

// TestPlainEndBytes: eight bytes at a time, PlainEndBytes and
// PlainEndWide stop where
// PlainEnd's byte-by-byte loop stops: every byte value at every place of
// plain runs up to 24 bytes long, from every start, and pairs of the
// bytes at the edges of what is plain (a borrow of one must not move the
// end found before it).
func TestPlainEndBytes(t *testing.T) {
	plain := []byte("abcdefghijklmnopqrstuvwx")
	for n := 0; n <= len(plain); n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				b := append([]byte(nil), plain[:n]...)
				b[at] = byte(c)
				for i := 0; i <= n; i++ {
					want := PlainEnd(string(b), i)
					if got := PlainEndBytes(b, i); got != want {
						t.Fatalf("%q from %d: %d, want %d", b, i, got, want)
					}
					if got := PlainEndWide(string(b), i); got != want {
						t.Fatalf("wide: %q from %d: %d, want %d", b, i, got, want)
					}
				}
			}
		}
	}
}

func TestPlainEndBytesPairs(t *testing.T) {
	edges := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff}
	for n := 2; n <= 17; n++ {
		for a := 0; a < n; a++ {
			for z := a + 1; z < n; z++ {
				for _, ca := range edges {
					for _, cz := range edges {
						b := bytes.Repeat([]byte{'a'}, n)
						b[a], b[z] = ca, cz
						want := PlainEnd(string(b), 0)
						if got := PlainEndBytes(b, 0); got != want {
							t.Fatalf("%q: %d, want %d", b, got, want)
						}
						if got := PlainEndWide(string(b), 0); got != want {
							t.Fatalf("wide: %q: %d, want %d", b, got, want)
						}
					}
				}
			}
		}
	}
}

// FuzzPlainEndBytes: PlainEndBytes and PlainEndWide are PlainEnd.
func FuzzPlainEndBytes(f *testing.F) {
	f.Add([]byte(`{"id":"chatcmpl-123","object":"chat.completion.chunk"}`), 2)
	f.Add([]byte("0123456789abcdef\x7f\x80\"\\\x1f"), 0)
	f.Fuzz(func(t *testing.T, b []byte, i int) {
		if i < 0 || i > len(b) {
			return
		}
		want := PlainEnd(string(b), i)
		if got := PlainEndBytes(b, i); got != want {
			t.Fatalf("%q from %d: %d, want %d", b, i, got, want)
		}
		if got := PlainEndWide(string(b), i); got != want {
			t.Fatalf("wide: %q from %d: %d, want %d", b, i, got, want)
		}
	})
}
