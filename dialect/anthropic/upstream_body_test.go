package anthropic

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/runnel/runnel/stream"
)

func TestRequestBodyMatchesMarshal(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	k := 40
	p := NewProvider(Config{BaseURL: "http://up", ThinkingBudget: 1024})
	for _, tc := range []struct {
		name string
		req  stream.Request
		fast bool
	}{
		{"plain", stream.Request{Model: "claude", Messages: []stream.Message{{Role: "user", Content: "Tell me a story."}}}, true},
		{"system, sampling, stops", stream.Request{Model: "m<&>", Messages: []stream.Message{
			{Role: "system", Content: "be\b brief\f"}, {Role: "user", Content: "a\u2028\xff"}, {Role: "assistant", Content: ""}, {Role: "user", Content: "again"}},
			Sampling: stream.Sampling{MaxTokens: 9, Temperature: f(0.25), TopP: f(1e-7), TopK: &k, Stop: []string{"\n\nHuman:", "<x>"}}}, true},
		{"thinking", stream.Request{Model: "m", Thinking: true, Messages: []stream.Message{{Role: "user", Content: "x"}}}, true},
		{"tool results and choice", stream.Request{Model: "m", ToolChoice: "required", Metadata: map[string]string{"user_id": "u1"}, Messages: []stream.Message{
			{Role: "user", Content: "q"}, {Role: "tool", ToolCallID: "t1", Content: "42"}, {Role: "tool", ToolCallID: "t2", Content: ""}}}, true},
		{"named tool choice", stream.Request{Model: "m", ToolChoice: "get", Messages: []stream.Message{{Role: "user", Content: "q"}}}, true},
		{"raw prompt", stream.Request{Model: "m", Prompt: "once", RawPrompt: true}, true},
		{"tool calls", stream.Request{Model: "m", Messages: []stream.Message{{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "t", Name: "n", Arguments: `{ "a" : "<" }`}}}}}, false},
		{"tools", stream.Request{Model: "m", Tools: []stream.Tool{{Name: "get"}}, Messages: []stream.Message{{Role: "user", Content: "q"}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := p.upstreamRequest(&tc.req)
			checkRequestBody(t, m)
			if _, fast := appendRequest(nil, m); fast != tc.fast {
				t.Errorf("written directly: %v, want %v", fast, tc.fast)
			}
		})
	}
	// Shapes upstreamRequest does not make, which the appender must
	// write as encoding/json does all the same.
	checkRequestBody(t, &MessagesRequest{Model: "m"})
	checkRequestBody(t, &MessagesRequest{Messages: []Message{{Role: "user"}}, System: &Content{Blocks: []Block{}},
		Thinking: &ThinkingConfig{Type: "disabled"}, ToolChoice: &ToolChoice{Type: "auto"}, Metadata: &struct {
			UserID string `json:"user_id,omitempty"`
		}{}})
	checkRequestBody(t, &MessagesRequest{Messages: []Message{{Role: "assistant", Content: Content{Blocks: []Block{
		{Type: "thinking", Thinking: "hm", Signature: "sig"}, {Type: "tool_result", ToolUseID: "t", IsError: true, Content: &Content{}}}}}}})
}

func checkRequestBody(t *testing.T, m *MessagesRequest) {
	t.Helper()
	want, werr := json.Marshal(m)
	got, err := requestBody(m, 0)
	if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
		t.Errorf("requestBody\n got %s %v\nwant %s %v", got, err, want, werr)
	}
}

// FuzzRequestBody: whatever the strings and numbers, the body written
// directly is the bytes encoding/json writes.
func FuzzRequestBody(f *testing.F) {
	f.Add("claude", "system", "user", "hello", "", 0, 0.5, 1.0, false, "")
	f.Add("m\xff", "<b>", "assistant", "\b\f\u2028", "stop", 12, 1e-9, 3e22, true, "auto")
	f.Fuzz(func(t *testing.T, model, system, role, text, stop string, maxTokens int, temp, topP float64, thinking bool, choice string) {
		req := &stream.Request{Model: model, ToolChoice: choice, Thinking: thinking,
			Messages: []stream.Message{{Role: "system", Content: system}, {Role: role, Content: text}, {Role: "tool", ToolCallID: stop, Content: text}},
			Sampling: stream.Sampling{MaxTokens: maxTokens, Temperature: &temp, TopP: &topP, Stop: []string{stop, text}}}
		checkRequestBody(t, NewProvider(Config{BaseURL: "http://up", ThinkingBudget: 512}).upstreamRequest(req))
	})
}
