package gemini

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/runnel/runnel/stream"
)

// bodyCases are requests the hand encoder takes (the first six) or
// leaves to encoding/json, with strings that need escaping and turns of
// one role that make one content.
func bodyCases() []*stream.Request {
	f, tiny, nan := 0.7, 1e-7, math.Inf(1)
	k, seed := 40, int64(-5)
	text := []stream.Message{{Role: "system", Content: "Be <brief>"}, {Role: "user", Content: "Hi \xff"}, {Role: "system", Content: "& \"exact\"\u2028"},
		{Role: "user", Content: ""}, {Role: "assistant", Content: ""}, {Role: "assistant", Content: "ok"}, {Role: "", Content: "more"}}
	return []*stream.Request{
		{Model: "m", Messages: []stream.Message{{Role: "user", Content: "Tell me a story."}}},
		{Model: "m", Messages: text, Thinking: true, ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONObject}},
		{Model: "m", Prompt: "raw <prompt>", Sampling: stream.Sampling{MaxTokens: 9, Temperature: &f, TopK: &k, TopP: &tiny, Seed: &seed, Stop: []string{"\n", "</s>"}}},
		{Model: "m", Messages: text[:1], Sampling: stream.Sampling{Stop: []string{}, MaxTokens: -1}},
		{Model: "m", Messages: text[:3], ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema}},
		{Model: "m"},
		{Model: "m", Messages: text[:1], ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema, Schema: json.RawMessage(`{ "type": "object" }`)}},
		{Model: "m", Messages: text[:1], Sampling: stream.Sampling{TopP: &nan}},
		{Model: "m", Messages: []stream.Message{{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}}, {Role: "tool", ToolCallID: "c1", Content: "1"}}},
		{Model: "m", Messages: text[:2], Tools: []stream.Tool{{Name: "f", Parameters: json.RawMessage(`{}`)}}},
		{Model: "m", Messages: text[:2], ToolChoice: "none"},
	}
}

// The hand-written body is json.Marshal's, byte for byte, for every
// request it takes; and it takes the common ones.
func TestRequestBodyMatchesMarshal(t *testing.T) {
	for i, req := range bodyCases() {
		if taken, want := checkBody(t, req), i < 6; taken != want {
			t.Errorf("case %d: taken %v, want %v", i, taken, want)
		}
	}
}

// checkBody fails t unless appendBody, where it takes req, writes what
// marshalBody does; and says whether it took it.
func checkBody(t *testing.T, req *stream.Request) bool {
	t.Helper()
	got, ok := appendBody(nil, req)
	if !ok {
		return false
	}
	want, err := marshalBody(req)
	if err != nil {
		t.Fatalf("appendBody took %+v, which json.Marshal refuses: %v", req, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v:\n got %s\nwant %s", req, got, want)
	}
	if b, err := requestBody(req); err != nil || !bytes.Equal(*b, want) {
		t.Fatalf("requestBody: %s %v", *b, err)
	}
	return true
}

// FuzzRequestBody compares the hand encoder with json.Marshal on requests
// of any text, roles and sampling (run: go test -fuzz FuzzRequestBody
// ./dialect/gemini/).
func FuzzRequestBody(f *testing.F) {
	f.Add("Hi <b> & \"q\"", "", "sys", 0.7, int64(3), 0, "\n", uint8(0), uint8(0))
	f.Add("\xff\u2028", "x", "", 1e-9, int64(-1), 5, "", uint8(255), uint8(0x5a))
	f.Fuzz(func(t *testing.T, a, b, c string, fl float64, n int64, max int, stop string, flags, roles uint8) {
		req := &stream.Request{Model: "m", Thinking: flags&1 != 0, Sampling: stream.Sampling{MaxTokens: max}}
		if flags&2 != 0 {
			req.Prompt = a
		} else {
			names := []string{"user", "assistant", "system", ""}
			for i, text := range []string{a, b, c, stop} {
				req.Messages = append(req.Messages, stream.Message{Role: names[roles>>(2*i)&3], Content: text})
			}
		}
		s := &req.Sampling
		if flags&4 != 0 {
			s.Temperature, s.TopP = &fl, &fl
		}
		if flags&16 != 0 {
			k := int(n)
			s.TopK, s.Seed = &k, &n
		}
		if flags&32 != 0 {
			s.Stop = []string{stop, a}
		}
		if flags&64 != 0 {
			req.ResponseFormat = &stream.ResponseFormat{Type: stream.FormatJSONObject}
		}
		checkBody(t, req)
	})
}
