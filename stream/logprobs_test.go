package stream

import (
	"encoding/json"
	"testing"
)

func lp(s string) *Logprobs { return &Logprobs{JSON: json.RawMessage(s)} }

func TestJoinLogprobs(t *testing.T) {
	for _, tt := range []struct {
		name  string
		parts []*Logprobs
		want  string // "" for nil
	}{
		{"none", nil, ""},
		{"only nils", []*Logprobs{nil, nil}, ""},
		{"one is kept as sent", []*Logprobs{nil, lp(`{"content": [1]}`)}, `{"content": [1]}`},
		{"chat content concatenated", []*Logprobs{lp(`{"content":[{"token":"a"}],"refusal":null}`), nil, lp(`{"content":[{"token":"b"},{"token":"c"}],"refusal":null}`)},
			`{"content":[{"token":"a"},{"token":"b"},{"token":"c"}],"refusal":null}`},
		{"empty and null arrays", []*Logprobs{lp(`{"content":[]}`), lp(`{"content":null}`), lp(`{"content":[2]}`)}, `{"content":[2]}`},
		{"legacy keys keep their order", []*Logprobs{
			lp(`{"tokens":["a"],"token_logprobs":[-1],"top_logprobs":[{"a":-1}],"text_offset":[0]}`),
			lp(`{"tokens":["b"],"token_logprobs":[-2],"top_logprobs":[{"b":-2}],"text_offset":[1]}`)},
			`{"tokens":["a","b"],"token_logprobs":[-1,-2],"top_logprobs":[{"a":-1},{"b":-2}],"text_offset":[0,1]}`},
		{"a key only later", []*Logprobs{lp(`{"content":[1]}`), lp(`{"content":[2],"x":"y"}`)}, `{"content":[1,2],"x":"y"}`},
		{"not an object is skipped", []*Logprobs{lp(`[1]`), lp(`{"content":[1]}`), lp(`{"content":[2]}`)}, `{"content":[1,2]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := JoinLogprobs(tt.parts...)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("got %s, want nil", got.JSON)
				}
				return
			}
			if got == nil || string(got.JSON) != tt.want {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
			if !json.Valid(got.JSON) {
				t.Fatalf("invalid JSON %s", got.JSON)
			}
		})
	}
}

func TestCollectLogprobs(t *testing.T) {
	d := func(text, l string) Event {
		ev := Delta(text)
		if l != "" {
			ev.Logprobs = lp(l)
		}
		return ev
	}
	r := Collect(Slice(d("a", `{"content":[1]}`), ThinkingDelta("t"), d("b", ""), d("c", `{"content":[2]}`), Finished(FinishStop)))
	if r.Text != "abc" || r.Logprobs == nil || string(r.Logprobs.JSON) != `{"content":[1,2]}` {
		t.Fatalf("%+v", r)
	}
	if r := Collect(Slice(Delta("x"), Finished(FinishStop))); r.Logprobs != nil {
		t.Fatalf("logprobs without any delta's: %s", r.Logprobs.JSON)
	}
}
