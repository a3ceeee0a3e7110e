package ollama

import (
	"encoding/json"
	"strconv"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// upstreamBody builds the request Ollama is sent: the bytes json.Marshal
// gives of upstreamRequest's, appended directly into a pooled buffer
// (dialect.Endpoint.Post gives it back) for the requests most calls are;
// one with tool calls or tools, a schema (encoding/json compacts and
// escapes it) or a sampling value JSON cannot hold goes through
// encoding/json. TestRequestBodyMatchesMarshal and FuzzRequestBody hold the
// two to the same bytes.
func upstreamBody(req *stream.Request, as sendAs) (path string, body *[]byte, err error) {
	path = pathChat
	if len(req.Messages) == 0 {
		path = pathGenerate
	}
	buf := dialect.GetBuffer(bodySize(req))
	if b, ok := appendBody(*buf, req, as); ok {
		*buf = b
		return path, buf, nil
	}
	dialect.PutBuffer(buf)
	path, data, err := marshalBody(req, as)
	return path, &data, err
}

// bodySize is a guess at the body's length, so that it is written with
// one allocation in most calls.
func bodySize(req *stream.Request) int {
	n := 200 + len(req.Model) + len(req.Prompt)
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 64 + len(m.Content) + len(m.Thinking) + len(m.Name) + len(m.ToolCallID)
	}
	return n
}

// appendBody appends marshalBody's bytes to b; ok is false for a request
// it leaves to encoding/json (see upstreamBody).
func appendBody(b []byte, req *stream.Request, as sendAs) (_ []byte, ok bool) {
	s := &req.Sampling
	if len(req.Tools) > 0 || !dialect.Finite(s.Temperature) || !dialect.Finite(s.TopP) || !dialect.Finite(s.MinP) || !dialect.Finite(s.RepeatPenalty) {
		return b, false
	}
	format := wireFormat(req.ResponseFormat)
	if as.count {
		format = nil
	}
	if format != nil && string(format) != `"json"` {
		return b, false
	}
	b = append(b, `{"model":`...)
	b = dialect.AppendMarshalledString(b, req.Model)
	if len(req.Messages) == 0 {
		b = append(b, `,"prompt":`...)
		b = dialect.AppendMarshalledString(b, req.Prompt)
		b = append(b, `,"raw":true`...)
	} else {
		b = append(b, `,"messages":[`...)
		for i := range req.Messages {
			m := &req.Messages[i]
			if len(m.ToolCalls) > 0 {
				return b, false
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMessage(b, m)
		}
		b = append(b, ']')
	}
	if format != nil {
		b = append(b, `,"format":"json"`...)
	}
	b = appendOptions(b, s, as.count)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, !as.count)
	switch {
	case as.prefill:
		b = append(b, `,"think":false`...)
	case req.Thinking:
		b = append(b, `,"think":true`...)
	}
	return append(b, '}'), true
}

// appendMessage is one Message of text, as encoding/json writes it.
func appendMessage(b []byte, m *stream.Message) []byte {
	b = append(b, `{"role":`...)
	b = dialect.AppendMarshalledString(b, m.Role)
	b = append(b, `,"content":`...)
	b = dialect.AppendMarshalledString(b, m.Content)
	b = appendStringField(b, `,"thinking":`, m.Thinking)
	b = appendStringField(b, `,"tool_name":`, m.Name)
	b = appendStringField(b, `,"tool_call_id":`, m.ToolCallID)
	return append(b, '}')
}

// appendStringField appends key and s unless s is empty (omitempty).
func appendStringField(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return dialect.AppendMarshalledString(append(b, key...), s)
}

// appendOptions is ModelOptions as upstreamBody fills it: one token
// predicted for a count, else MaxTokens if set.
func appendOptions(b []byte, s *stream.Sampling, count bool) []byte {
	b = append(b, `,"options":{`...)
	start := len(b)
	switch {
	case count:
		b = append(b, `,"num_predict":1`...)
	case s.MaxTokens > 0:
		b = strconv.AppendInt(append(b, `,"num_predict":`...), int64(s.MaxTokens), 10)
	}
	b = dialect.AppendFloatField(b, `,"temperature":`, s.Temperature)
	b = dialect.AppendIntField(b, `,"top_k":`, s.TopK)
	b = dialect.AppendFloatField(b, `,"top_p":`, s.TopP)
	b = dialect.AppendFloatField(b, `,"min_p":`, s.MinP)
	b = dialect.AppendFloatField(b, `,"repeat_penalty":`, s.RepeatPenalty)
	b = dialect.AppendIntField(b, `,"seed":`, s.Seed)
	b = dialect.AppendStringsField(b, `,"stop":`, s.Stop)
	if len(b) > start {
		b = append(b[:start], b[start+1:]...) // the first field's comma
	}
	return append(b, '}')
}

// marshalBody is upstreamBody by encoding/json: any request.
func marshalBody(req *stream.Request, as sendAs) (path string, body []byte, err error) {
	opts := &ModelOptions{
		Temperature: req.Sampling.Temperature, TopK: req.Sampling.TopK, TopP: req.Sampling.TopP,
		MinP: req.Sampling.MinP, RepeatPenalty: req.Sampling.RepeatPenalty, Seed: req.Sampling.Seed,
		Stop: req.Sampling.Stop,
	}
	if req.Sampling.MaxTokens > 0 {
		n := req.Sampling.MaxTokens
		opts.NumPredict = &n
	}
	var think *Think
	switch {
	case as.prefill:
		think = &Think{}
	case req.Thinking:
		think = &Think{On: true}
	}
	t, format := true, wireFormat(req.ResponseFormat)
	if as.count {
		one := 1
		t, format, opts.NumPredict = false, nil, &one
	}
	if len(req.Messages) == 0 {
		b, err := json.Marshal(GenerateRequest{Model: req.Model, Prompt: req.Prompt, Raw: true, Options: opts, Stream: &t, Think: think, Format: format})
		return pathGenerate, b, err
	}
	cr := ChatRequest{Model: req.Model, Options: opts, Stream: &t, Think: think, Format: format,
		Messages: make([]Message, 0, len(req.Messages))}
	for _, m := range req.Messages {
		om := Message{Role: m.Role, Content: m.Content, Thinking: m.Thinking, ToolName: m.Name, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			args := json.RawMessage(tc.Arguments)
			if !json.Valid(args) {
				return "", nil, stream.InvalidParam("messages", "tool call %q arguments are not valid JSON", tc.Name)
			}
			om.ToolCalls = append(om.ToolCalls, ToolCall{ID: tc.ID, Function: ToolFunction{Name: tc.Name, Arguments: args}})
		}
		cr.Messages = append(cr.Messages, om)
	}
	for _, tl := range req.Tools {
		var ot Tool
		ot.Type = "function"
		ot.Function.Name, ot.Function.Description, ot.Function.Parameters = tl.Name, tl.Description, tl.Parameters
		cr.Tools = append(cr.Tools, ot)
	}
	b, err := json.Marshal(cr)
	return pathChat, b, err
}
