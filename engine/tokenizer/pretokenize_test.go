package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestPretokenizeGolden checks the hand-written splitters against the
// expressions they implement, as matched by Python's regex module
// (testdata/pretokenize.py writes testdata/pretokenize.json).
func TestPretokenizeGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/pretokenize.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string][][2]any
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	splitters := map[string]splitter{"gpt-2": splitGPT2, "llama3": splitLlama3, "qwen2": splitQwen2, "tekken": splitTekken}
	for name, cases := range golden {
		if len(cases) < 40 {
			t.Fatalf("%s: only %d cases", name, len(cases))
		}
		split := splitters[name]
		if split == nil {
			t.Fatalf("no splitter for %q", name)
		}
		for _, c := range cases {
			text := c[0].(string)
			want := []string{}
			for _, w := range c[1].([]any) {
				want = append(want, w.(string))
			}
			cps := []rune(text)
			got := []string{}
			start := int32(0)
			for _, end := range split(cps, nil) {
				got = append(got, string(cps[start:end]))
				start = end
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %q:\n got %q\nwant %q", name, text, got, want)
			}
		}
	}
}

// Splitters cover the text with non-empty words, in order.
func FuzzPretokenize(f *testing.F) {
	for _, s := range []string{"", "It's 1234 apples!\n\n  ok  ", "我想 😀 \r\n\t'Ve", "$+1,000.50 ~(x|y)` \u3000end\u00a0 ", "Ｈｅｌｌｏ，世界。 안녕 …"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cps := decodeRunes(nil, s)
		for name, split := range pretokenizers {
			ends := split(cps, nil)
			prev := int32(0)
			for _, e := range ends {
				if e <= prev || int(e) > len(cps) {
					t.Fatalf("%s %q: word ends %v", name, s, ends)
				}
				prev = e
			}
			if int(prev) != len(cps) {
				t.Fatalf("%s %q: words end at %d of %d", name, s, prev, len(cps))
			}
		}
	})
}
