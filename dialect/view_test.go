package dialect

import (
	"bytes"
	"encoding/json"
	"testing"
	"unsafe"
)

// viewCases are JSON strings, some the scanner reads (plain, escapes of
// every kind) and some it leaves to encoding/json.
var viewCases = []string{`""`, `"hi"`, `"a\nb"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u20ac\u0000x\u0041"`, `"é😀 \u2028"`,
	`"\ud83d\ude00"`, "\"\xff\"", "\"a\x01\"", `"\x"`, `"\u12"`, `"unterminated`, `"` + string(bytes.Repeat([]byte(`x\n`), 3000)) + `"`}

// FuzzViewRaw: a string the scanner reads (RawString, StrView) gives,
// unescaped in place and viewed (ViewRaw, UnescapeView), what
// encoding/json decodes it to, and Str what it copies.
func FuzzViewRaw(f *testing.F) {
	for _, c := range viewCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want string
		werr := json.Unmarshal(data, &want)
		s := NewJSONScanner(bytes.Clone(data))
		raw, ok := s.RawString()
		if !ok || !s.End() {
			return // left to encoding/json
		}
		if werr != nil {
			t.Fatalf("the scanner read %q, which encoding/json refuses: %v", data, werr)
		}
		if got := ViewRaw(raw); got != want {
			t.Fatalf("ViewRaw(%q) = %q, want %q", data, got, want)
		}
		v, ok := NewJSONScanner(bytes.Clone(data)).StrView()
		if got := UnescapeView(v); !ok || got != want {
			t.Fatalf("UnescapeView(StrView(%q)) = %q, %v, want %q", data, got, ok, want)
		}
		if got, ok := NewJSONScanner(data).Str(); !ok || got != want {
			t.Fatalf("Str(%q) = %q, %v, want %q", data, got, ok, want)
		}
	})
}

// A view is of the scanned bytes themselves: no copy, and an escaped
// string's text is written over its own bytes.
func TestViewsShareTheBody(t *testing.T) {
	data := []byte(`"plain" "a\u00e9\nb"`)
	s := NewJSONScanner(data)
	plain, _ := s.StrView()
	escaped, _ := s.StrView()
	if &data[1] != unsafeData(plain) || &data[9] != unsafeData(escaped) {
		t.Fatal("StrView copied")
	}
	text := UnescapeView(escaped)
	if text != "aé\nb" || unsafeData(text) != &data[9] || string(data[9:13]) != "a\xc3\xa9\n" {
		t.Errorf("UnescapeView: %q over %q", text, data)
	}
}

func unsafeData(s string) *byte { return unsafe.StringData(s) }
