package openai

import (
	"encoding/json"
	"strconv"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// chatBody is the upstream chat request's body: the bytes
// json.Marshal(upstreamChat(req)) gives, appended directly for the
// requests most calls are (about a fifth of encoding/json's instructions,
// and no reflection); a request with tools, a response format or a named
// tool choice goes through encoding/json, whose raw values it compacts
// and escapes. TestChatBodyMatchesMarshal and FuzzChatBody hold the two
// to the same bytes. The buffer comes from the pool that
// dialect.NewUpstreamPost gives a long body back to once nothing can send
// it again, in the pool's own box (*[]byte), which goes back with it: a
// box of its own would be an allocation a call.
func chatBody(req *stream.Request) (*[]byte, error) {
	buf := dialect.GetBuffer(chatBodySize(req))
	if b, ok := appendChatBody(*buf, req); ok {
		*buf = b
		return buf, nil
	}
	data, err := json.Marshal(upstreamChat(req))
	if err != nil {
		dialect.PutBuffer(buf)
		return nil, err
	}
	*buf = data // the pool takes any buffer back
	return buf, nil
}

// chatBodySize is a guess at the body's length, so that it is written
// with one allocation in most calls.
func chatBodySize(req *stream.Request) int {
	n := 160 + len(req.Model)
	for i := range req.Messages {
		n += 48 + len(req.Messages[i].Content) + len(req.Messages[i].Name)
	}
	return n
}

// appendChatBody appends req's upstream body to b; ok is false for a
// request it leaves to encoding/json (see chatBody).
func appendChatBody(b []byte, req *stream.Request) (_ []byte, ok bool) {
	s := &req.Sampling
	if len(req.Tools) > 0 || req.ResponseFormat != nil || !plainToolChoice(req.ToolChoice) ||
		!dialect.Finite(s.Temperature) || !dialect.Finite(s.TopP) || !dialect.Finite(s.MinP) || !dialect.Finite(s.RepeatPenalty) {
		return b, false
	}
	b = append(b, `{"model":`...)
	b = dialect.AppendMarshalledString(b, req.Model)
	b = append(b, `,"messages":[`...)
	for i := range req.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, &req.Messages[i])
	}
	b = append(b, `],"stream":true,"stream_options":{"include_usage":true}`...)
	if s.MaxTokens > 0 {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(s.MaxTokens), 10)
	}
	b = dialect.AppendFloatField(b, `,"temperature":`, s.Temperature)
	b = dialect.AppendFloatField(b, `,"top_p":`, s.TopP)
	b = dialect.AppendStringsField(b, `,"stop":`, s.Stop)
	if s.Seed != nil || s.Logprobs || req.ToolChoice != "" || s.TopK != nil || s.MinP != nil || s.RepeatPenalty != nil {
		b = appendRareFields(b, req)
	}
	return append(b, '}'), true
}

// appendRareFields is appendChatBody's fields that most calls leave
// unset, in their order: out of line, so that a call that sets none runs
// one check, not each field's (docs/benchmarks.md, issue 13, callfoot
// session).
//
//go:noinline
func appendRareFields(b []byte, req *stream.Request) []byte {
	s := &req.Sampling
	if s.Seed != nil {
		b = append(b, `,"seed":`...)
		b = strconv.AppendInt(b, *s.Seed, 10)
	}
	if s.Logprobs {
		b = append(b, `,"logprobs":true`...)
		if s.TopLogprobs > 0 {
			b = append(b, `,"top_logprobs":`...)
			b = strconv.AppendInt(b, int64(s.TopLogprobs), 10)
		}
	}
	if req.ToolChoice != "" {
		b = append(b, `,"tool_choice":"`...)
		b = append(b, req.ToolChoice...)
		b = append(b, '"')
	}
	if s.TopK != nil {
		b = append(b, `,"top_k":`...)
		b = strconv.AppendInt(b, int64(*s.TopK), 10)
	}
	b = dialect.AppendFloatField(b, `,"min_p":`, s.MinP)
	return dialect.AppendFloatField(b, `,"repetition_penalty":`, s.RepeatPenalty)
}

// appendMessage is one Message of upstreamChat, as encoding/json writes
// it: content whenever there is some or no tool call, the rest when set.
func appendMessage(b []byte, m *stream.Message) []byte {
	b = append(b, `{"role":`...)
	b = dialect.AppendMarshalledString(b, m.Role)
	if m.Content != "" || len(m.ToolCalls) == 0 {
		b = append(b, `,"content":`...)
		b = dialect.AppendMarshalledString(b, m.Content)
	}
	if m.Name != "" {
		b = append(b, `,"name":`...)
		b = dialect.AppendMarshalledString(b, m.Name)
	}
	if len(m.ToolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, tc := range m.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if tc.ID != "" {
				b = append(b, `"id":`...)
				b = dialect.AppendMarshalledString(b, tc.ID)
				b = append(b, ',')
			}
			b = append(b, `"type":"function","function":{`...)
			if tc.Name != "" {
				b = append(b, `"name":`...)
				b = dialect.AppendMarshalledString(b, tc.Name)
				b = append(b, ',')
			}
			b = append(b, `"arguments":`...)
			b = dialect.AppendMarshalledString(b, tc.Arguments)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	if m.ToolCallID != "" {
		b = append(b, `,"tool_call_id":`...)
		b = dialect.AppendMarshalledString(b, m.ToolCallID)
	}
	return append(b, '}')
}

// plainToolChoice reports a tool choice upstreamChat writes as a string.
func plainToolChoice(c string) bool {
	return c == "" || c == "none" || c == "auto" || c == "required"
}
