package ollama

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/runnel/runnel/stream"
)

// bodyCases are requests the hand encoder takes or leaves to
// encoding/json, with strings that need escaping.
func bodyCases() []*stream.Request {
	f, zero, tiny, big, nan := 0.7, 0.0, 1e-7, 1e21, math.NaN()
	k, seed := 40, int64(-5)
	text := []stream.Message{{Role: "system", Content: "Be <brief> & \"exact\"\n\u2028"}, {Role: "user", Content: "Hi \xff"},
		{Role: "assistant", Content: "", Thinking: "hm"}, {Role: "tool", Content: "22°C", Name: "weather", ToolCallID: "c1"}}
	return []*stream.Request{
		{Model: "m", Messages: []stream.Message{{Role: "user", Content: "Tell me a story."}}},
		{Model: "qwen3:0.6b", Messages: text, Thinking: true, ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONObject}},
		{Model: "m", Prompt: "raw <prompt>", Sampling: stream.Sampling{MaxTokens: 9, Temperature: &f, TopK: &k, TopP: &zero, MinP: &tiny, RepeatPenalty: &big, Seed: &seed, Stop: []string{"\n", "</s>"}}},
		{Model: "m", Prompt: "", ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONObject}},
		{Model: "m", Messages: text[:1], Sampling: stream.Sampling{Stop: []string{}}},
		{Model: "m", Messages: text[:1], ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema, Schema: json.RawMessage(`{ "type": "object" }`)}},
		{Model: "m", Messages: text[:1], ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema}},
		{Model: "m", Messages: text[:1], Sampling: stream.Sampling{Temperature: &nan}},
		{Model: "m", Messages: []stream.Message{{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}}}},
		{Model: "m", Messages: text[:1], Tools: []stream.Tool{{Name: "f", Parameters: json.RawMessage(`{}`)}}},
	}
}

// The hand-written body is json.Marshal's, byte for byte, for every
// request it takes, however it is sent; and it takes the common ones.
func TestRequestBodyMatchesMarshal(t *testing.T) {
	for i, req := range bodyCases() {
		for _, as := range []sendAs{{}, {prefill: true}, {prefill: true, count: true}} {
			taken := checkBody(t, req, as)
			if want := i < 5 || i == 6 || i == 5 && as.count; taken != want {
				t.Errorf("case %d %+v: taken %v, want %v", i, as, taken, want)
			}
		}
	}
}

// checkBody fails t unless appendBody, where it takes req, writes what
// marshalBody does; and says whether it took it.
func checkBody(t *testing.T, req *stream.Request, as sendAs) bool {
	t.Helper()
	got, ok := appendBody(nil, req, as)
	if !ok {
		return false
	}
	path, want, err := marshalBody(req, as)
	if err != nil {
		t.Fatalf("appendBody took %+v, which json.Marshal refuses: %v", req, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v %+v:\n got %s\nwant %s", req, as, got, want)
	}
	if p, b, err := upstreamBody(req, as); err != nil || p != path || !bytes.Equal(*b, want) {
		t.Fatalf("upstreamBody: %s %s %v, want %s", p, *b, err, path)
	}
	return true
}

// FuzzRequestBody compares the hand encoder with json.Marshal on requests
// of any text and sampling (run: go test -fuzz FuzzRequestBody
// ./dialect/ollama/).
func FuzzRequestBody(f *testing.F) {
	f.Add("m", "user", "Hi <b> & \"q\"", "", "", "", 0.7, int64(3), 0, "\n", uint8(0))
	f.Add("m", "tool", "\xff\u2028", "think", "name", "id", 1e-9, int64(-1), 5, "", uint8(255))
	f.Fuzz(func(t *testing.T, model, role, content, thinking, name, callID string, fl float64, n int64, max int, stop string, flags uint8) {
		req := &stream.Request{Model: model, Thinking: flags&1 != 0, Sampling: stream.Sampling{MaxTokens: max}}
		if flags&2 != 0 {
			req.Prompt = content
		} else {
			req.Messages = []stream.Message{{Role: role, Content: content, Thinking: thinking, Name: name, ToolCallID: callID}, {Role: "user", Content: stop}}
		}
		s := &req.Sampling
		if flags&4 != 0 {
			s.Temperature, s.TopP = &fl, &fl
		}
		if flags&8 != 0 {
			s.MinP, s.RepeatPenalty = &fl, &fl
		}
		if flags&16 != 0 {
			k := int(n)
			s.TopK, s.Seed = &k, &n
		}
		if flags&32 != 0 {
			s.Stop = []string{stop, content}
		}
		if flags&64 != 0 {
			req.ResponseFormat = &stream.ResponseFormat{Type: stream.FormatJSONObject}
		}
		for _, as := range []sendAs{{}, {prefill: true}, {prefill: true, count: true}} {
			checkBody(t, req, as)
		}
	})
}
