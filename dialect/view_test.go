package dialect

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
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

// A body of 1 KiB or more that the fast decoder takes comes from the
// pool, and its views read it until Release; a shorter one is the
// request's own (nil: nothing to give back); a body the fast decoder
// leaves goes to encoding/json, and nothing is the caller's. Released
// while poisoning, the views read poison.
func TestPooledBodies(t *testing.T) {
	type text struct {
		Text string `json:"text"`
	}
	for _, c := range []struct {
		name   string
		text   string
		take   bool
		pooled bool
	}{
		{"long, taken", strings.Repeat("y", 2000), true, true},
		{"short, taken", "yy", true, false},
		{"long, left", strings.Repeat("y", 2000), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := `{"text":"` + c.text + `"}`
			var v text
			fast := func(data []byte) bool {
				if c.take {
					v.Text = view(data[9 : len(data)-2])
				}
				return c.take
			}
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			mem, took, err := DecodeJSONPooled(httptest.NewRecorder(), r, 0, &v, fast)
			if err != nil || took != c.take || (mem != nil) != c.pooled || v.Text != c.text {
				t.Fatalf("body %v, took %v, %v, %.20q", mem != nil, took, err, v.Text)
			}
			if mem == nil {
				return
			}
			if cap(*mem) < len(body) || cap(*mem) != classSize(bufferClass(cap(*mem))) {
				t.Errorf("a body of %d bytes in a buffer of %d, not a class's", len(body), cap(*mem))
			}
			before := PoisonReleasedBodies(true)
			defer PoisonReleasedBodies(false)
			mem.Release()
			if n := PoisonReleasedBodies(true) - before; n != 1 || v.Text != strings.Repeat("\xfe", len(c.text)) {
				t.Errorf("%d bodies poisoned; the view reads %.20q", n, v.Text)
			}
		})
	}
}
