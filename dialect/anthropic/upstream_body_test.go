package anthropic

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/runnel/runnel/dialect"
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
	var got []byte
	buf, err := requestBody(dialect.GetBuffer(0), m)
	if err == nil {
		got = *buf
	}
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

// checkPlainBody: if appendPlainBody takes req, its bytes are the general
// path's (upstreamRequest, then requestBody). It reports whether it took
// req.
func checkPlainBody(t *testing.T, p *Provider, req *stream.Request) bool {
	t.Helper()
	got, ok := p.appendPlainBody([]byte("x"), req)
	if !ok {
		return false
	}
	want, err := requestBody(dialect.GetBuffer(0), p.upstreamRequest(req))
	if err != nil || string(got) != "x"+string(*want) {
		t.Fatalf("appendPlainBody\n got %s\nwant x%s (%v)", got, *want, err)
	}
	return true
}

func TestPlainBody(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	k := 7
	p := NewProvider(Config{BaseURL: "http://up"})
	msgs := func(m ...string) []stream.Message { // role, content, role, content...
		var out []stream.Message
		for i := 0; i < len(m); i += 2 {
			out = append(out, stream.Message{Role: m[i], Content: m[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		req  stream.Request
		take bool
	}{
		{"bench", stream.Request{Model: "default", Messages: msgs("user", "Tell me a story."), Sampling: stream.Sampling{MaxTokens: 256}}, true},
		{"default max_tokens", stream.Request{Model: "m", Messages: msgs("user", "hi")}, true},
		{"empty stops", stream.Request{Model: "m", Messages: msgs("user", "hi"), Sampling: stream.Sampling{Stop: []string{}}}, true},
		{"prompt", stream.Request{Model: "m", Prompt: "once", RawPrompt: true}, true},
		{"empty prompt", stream.Request{Model: "m"}, true},
		{"turns", stream.Request{Model: "m<&>", Messages: msgs("system", "be\b brief", "user", "a\u2028\xff", "assistant", "", "user", "again"),
			Sampling: stream.Sampling{MaxTokens: 9, Temperature: f(0.25), TopP: f(1e-7), TopK: &k, Stop: []string{"\n\nHuman:", "<x>"}}}, true},
		{"merged turns", stream.Request{Model: "m", Messages: msgs("user", "", "user", "a", "system", "s", "user", "", "user", "b", "assistant", "c", "assistant", "")}, true},
		{"systems", stream.Request{Model: "m", Messages: msgs("system", "one", "user", "q", "system", "\xe2\x80", "system", "\xa8")}, true},
		{"other role", stream.Request{Model: "m", Messages: msgs("developer", "x", "user", "y")}, true},
		{"thinking turn", stream.Request{Model: "m", Messages: []stream.Message{{Role: "assistant", Content: "a", Thinking: "hm"}, {Role: "user", Content: "b"}}}, true},
		{"only system", stream.Request{Model: "m", Messages: msgs("system", "s")}, false},
		{"tool turn", stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "q"}, {Role: "tool", ToolCallID: "t", Content: "42"}}}, false},
		{"tool calls", stream.Request{Model: "m", Messages: []stream.Message{{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "t", Name: "n", Arguments: "{}"}}}}}, false},
		{"tools", stream.Request{Model: "m", Tools: []stream.Tool{{Name: "get"}}, Messages: msgs("user", "q")}, false},
		{"tool choice", stream.Request{Model: "m", ToolChoice: "auto", Messages: msgs("user", "q")}, false},
		{"thinking", stream.Request{Model: "m", Thinking: true, Messages: msgs("user", "q")}, false},
		{"user id", stream.Request{Model: "m", Metadata: map[string]string{"user_id": "u"}, Messages: msgs("user", "q")}, false},
		{"other metadata", stream.Request{Model: "m", Metadata: map[string]string{"x": "u"}, Messages: msgs("user", "q")}, true},
		{"infinite", stream.Request{Model: "m", Messages: msgs("user", "q"), Sampling: stream.Sampling{TopP: f(math.Inf(1))}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if took := checkPlainBody(t, p, &tc.req); took != tc.take {
				t.Errorf("taken: %v, want %v", took, tc.take)
			}
		})
	}
}

// FuzzPlainBody: whatever the turns, strings and numbers, the body
// appendPlainBody writes is the general path's.
func FuzzPlainBody(f *testing.F) {
	f.Add("claude", "user", "hello", "user", "", "system", "s", 0, 0.5, 1.0, 3, "stop", uint8(0))
	f.Add("m\xff", "system", "\b\f\u2028", "assistant", "<a>", "developer", "", 12, 1e-9, 3e22, -1, "", uint8(7))
	f.Fuzz(func(t *testing.T, model, r1, c1, r2, c2, r3, c3 string, maxTokens int, temp, topP float64, topK int, stop string, nils uint8) {
		req := &stream.Request{Model: model, Messages: []stream.Message{{Role: r1, Content: c1}, {Role: r2, Content: c2}, {Role: r3, Content: c3}},
			Sampling: stream.Sampling{MaxTokens: maxTokens, Temperature: &temp, TopP: &topP, TopK: &topK, Stop: []string{stop, c1}}}
		// Leave some of them out, by the bits of nils.
		if nils&1 != 0 {
			req.Sampling.Temperature, req.Sampling.TopK = nil, nil
		}
		if nils&2 != 0 {
			req.Sampling.TopP, req.Sampling.Stop = nil, nil
		}
		if nils&4 != 0 {
			req.Messages = req.Messages[:int(nils>>3)%4]
			req.Prompt = c2
		}
		checkPlainBody(t, NewProvider(Config{BaseURL: "http://up", MaxTokens: 100}), req)
	})
}
