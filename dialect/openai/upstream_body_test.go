package openai

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/runnel/runnel/stream"
)

// marshalledChat is the upstream body as encoding/json writes it, the
// oracle of chatBody.
func marshalledChat(t testing.TB, req *stream.Request) []byte {
	b, err := json.Marshal(upstreamChat(req))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChatBodyMatchesMarshal(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	seed := int64(-42)
	for _, tc := range []struct {
		name string
		req  stream.Request
		fast bool // written by appendChatBody, not encoding/json
	}{
		{"plain", stream.Request{Model: "gpt-4o-mini", Messages: []stream.Message{{Role: "user", Content: "Tell me a story."}}}, true},
		{"no messages", stream.Request{Model: "m"}, true},
		{"escapes", stream.Request{Model: "m\"<&>", Messages: []stream.Message{
			{Role: "system", Content: "a\nb\tc\r\b\f\x00\x1f\\\"</script>&amp;\u2028\u2029 é 日本 😀 \xff\xfe bad"},
			{Role: "user", Content: "", Name: "bob\x7f"},
		}}, true},
		{"sampling", stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "x"}},
			Sampling: stream.Sampling{MaxTokens: 17, Temperature: f(0.7), TopP: f(1), TopK: i(40), MinP: f(1e-7),
				RepeatPenalty: f(1e21), Seed: &seed, Stop: []string{"\n\n", "END<"}, Logprobs: true, TopLogprobs: 3}}, true},
		{"small and large floats", stream.Request{Model: "m", Sampling: stream.Sampling{Temperature: f(0), TopP: f(0.000001),
			MinP: f(-2.5e-300), RepeatPenalty: f(123456789012345678901.0)}}, true},
		{"logprobs without top", stream.Request{Model: "m", Sampling: stream.Sampling{Logprobs: true}}, true},
		// Each of appendRareFields' fields alone: one check guards them all.
		{"seed alone", stream.Request{Model: "m", Sampling: stream.Sampling{Seed: &seed}}, true},
		{"top_k alone", stream.Request{Model: "m", Sampling: stream.Sampling{TopK: i(0)}}, true},
		{"min_p alone", stream.Request{Model: "m", Sampling: stream.Sampling{MinP: f(0.5)}}, true},
		{"repetition_penalty alone", stream.Request{Model: "m", Sampling: stream.Sampling{RepeatPenalty: f(1.1)}}, true},
		{"tool choice alone", stream.Request{Model: "m", ToolChoice: "none"}, true},
		{"tool turns", stream.Request{Model: "m", ToolChoice: "required", Messages: []stream.Message{
			{Role: "user", Content: "weather?"},
			{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "call_1", Name: "get", Arguments: `{"city":"Paris"}`}, {Name: "", Arguments: ""}}},
			{Role: "assistant", Content: "and", ToolCalls: []stream.ToolCall{{ID: "c2", Name: "n", Arguments: "{}"}}},
			{Role: "tool", Content: "sunny", ToolCallID: "call_1"},
		}}, true},
		{"tools", stream.Request{Model: "m", Tools: []stream.Tool{{Name: "get", Description: "<d>", Parameters: json.RawMessage(`{ "type" : "object" }`)}}}, false},
		{"named tool choice", stream.Request{Model: "m", ToolChoice: "get"}, false},
		{"response format", stream.Request{Model: "m", ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONObject}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := marshalledChat(t, &tc.req)
			buf, err := chatBody(&tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := *buf; !bytes.Equal(got, want) {
				t.Errorf("chatBody\n got %s\nwant %s", got, want)
			}
			if _, fast := appendChatBody(nil, &tc.req); fast != tc.fast {
				t.Errorf("written directly: %v, want %v", fast, tc.fast)
			}
		})
	}
}

// TestChatBodyRefusesWhatMarshalRefuses: a float JSON cannot hold is
// encoding/json's error, as before.
func TestChatBodyRefusesWhatMarshalRefuses(t *testing.T) {
	nan := math.NaN()
	req := &stream.Request{Model: "m", Sampling: stream.Sampling{Temperature: &nan}}
	if _, err := chatBody(req); err == nil {
		t.Fatal("chatBody wrote a NaN temperature")
	}
}

// FuzzChatBody: whatever the strings and numbers, the body written
// directly is the bytes encoding/json writes.
func FuzzChatBody(f *testing.F) {
	f.Add("gpt", "user", "hello", "", "", "", 0, 0.5, 1.0, int64(1), true, 2, "auto")
	f.Add("m\xff", "assistant", "", "n<", "id&", `{"a":1}`, 5, 1e-9, 3e22, int64(-1), false, 0, "")
	f.Fuzz(func(t *testing.T, model, role, content, name, callID, args string, maxTokens int, temp, topP float64, seed int64, logprobs bool, top int, choice string) {
		req := &stream.Request{Model: model, ToolChoice: choice,
			Messages: []stream.Message{{Role: role, Content: content, Name: name, ToolCallID: callID}},
			Sampling: stream.Sampling{MaxTokens: maxTokens, Temperature: &temp, TopP: &topP, Seed: &seed, Logprobs: logprobs, TopLogprobs: top, Stop: []string{content, name}}}
		if args != "" {
			req.Messages = append(req.Messages, stream.Message{Role: "assistant", Content: name, ToolCalls: []stream.ToolCall{{ID: callID, Name: name, Arguments: args}}})
		}
		want, werr := json.Marshal(upstreamChat(req))
		buf, err := chatBody(req)
		if (err != nil) != (werr != nil) {
			t.Fatalf("error %v, encoding/json's %v", err, werr)
		}
		var got []byte
		if err == nil {
			got = *buf
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("chatBody\n got %q\nwant %q", got, want)
		}
	})
}
