package stream

import (
	"encoding/json"
	"testing"
	"unsafe"
)

func TestJoinLogprobs(t *testing.T) {
	for _, tt := range []struct {
		name  string
		parts []Logprobs
		want  Logprobs
	}{
		{"none", nil, ""},
		{"only empties", []Logprobs{"", ""}, ""},
		{"one is kept as sent", []Logprobs{"", `{"content": [1]}`}, `{"content": [1]}`},
		{"chat content concatenated", []Logprobs{`{"content":[{"token":"a"}],"refusal":null}`, "", `{"content":[{"token":"b"},{"token":"c"}],"refusal":null}`},
			`{"content":[{"token":"a"},{"token":"b"},{"token":"c"}],"refusal":null}`},
		{"empty and null arrays", []Logprobs{`{"content":[]}`, `{"content":null}`, `{"content":[2]}`}, `{"content":[2]}`},
		{"legacy keys keep their order", []Logprobs{
			`{"tokens":["a"],"token_logprobs":[-1],"top_logprobs":[{"a":-1}],"text_offset":[0]}`,
			`{"tokens":["b"],"token_logprobs":[-2],"top_logprobs":[{"b":-2}],"text_offset":[1]}`},
			`{"tokens":["a","b"],"token_logprobs":[-1,-2],"top_logprobs":[{"a":-1},{"b":-2}],"text_offset":[0,1]}`},
		{"a key only later", []Logprobs{`{"content":[1]}`, `{"content":[2],"x":"y"}`}, `{"content":[1,2],"x":"y"}`},
		{"not an object is skipped", []Logprobs{`[1]`, `{"content":[1]}`, `{"content":[2]}`}, `{"content":[1,2]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := JoinLogprobs(tt.parts...)
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if got != "" && !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
}

// Only a delta carries logprobs; they never read as another event's.
func TestEventLogprobs(t *testing.T) {
	d := Delta("a")
	d.SetLogprobs(`{"content":[1]}`)
	if d.Logprobs() != `{"content":[1]}` || d.Text != "a" || d.Kind != KindDelta {
		t.Fatalf("%+v", d)
	}
	f := Finished(FinishLength)
	f.SetLogprobs(`{"content":[1]}`)
	if f.Finish != FinishLength || f.Logprobs() != "" {
		t.Fatalf("a finish took logprobs: %+v", f)
	}
	if Delta("x").Logprobs() != "" {
		t.Fatal("a plain delta has logprobs")
	}
}

func TestCollectLogprobs(t *testing.T) {
	d := func(text string, l Logprobs) Event {
		ev := Delta(text)
		ev.SetLogprobs(l)
		return ev
	}
	r := Collect(Slice(d("a", `{"content":[1]}`), ThinkingDelta("t"), d("b", ""), d("c", `{"content":[2]}`), Finished(FinishStop)))
	if r.Text != "abc" || r.Logprobs != `{"content":[1,2]}` || r.Finish != FinishStop {
		t.Fatalf("%+v", r)
	}
	if r := Collect(Slice(Delta("x"), Finished(FinishStop))); r.Logprobs != "" {
		t.Fatalf("logprobs without any delta's: %s", r.Logprobs)
	}
}

// Every word Event gains costs each control on the per-token path (a
// pointer more cost the chain benchmarks a third), so its size is pinned.
func TestEventSize(t *testing.T) {
	if n := unsafe.Sizeof(Event{}); n > 80 {
		t.Fatalf("stream.Event is %d bytes, want at most 80", n)
	}
}
