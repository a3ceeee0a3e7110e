package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// maxStops is OpenAI's limit on stop sequences.
const maxStops = 4

// ToRequest validates a chat request and converts it to a stream.Request.
// Errors are *stream.Error with CodeInvalidRequest naming the field.
func (c *ChatRequest) ToRequest() (*stream.Request, error) { return c.toRequest(false) }

// toRequest is ToRequest; with view, c is scanChat's, of a body the
// request may own (dialect.DecodeJSONOwned), and its messages' texts are
// views of it (dialect.ViewRaw).
func (c *ChatRequest) toRequest(view bool) (*stream.Request, error) {
	if c.Model == "" {
		return nil, stream.InvalidParam("model", "model is required")
	}
	if c.Messages == nil {
		return nil, stream.InvalidParam("messages", "messages is required")
	}
	if len(c.Messages) == 0 {
		return nil, stream.InvalidParam("messages", "messages must contain at least one message")
	}
	var err error
	req := dialect.NewRequest(len(c.Messages))
	req.Model, req.Metadata = c.Model, c.Metadata
	req.Messages = req.Messages[:len(c.Messages)]
	for i := range c.Messages {
		if err := c.Messages[i].toMessage(i, &req.Messages[i], view); err != nil {
			return nil, err
		}
	}
	if err = sampling(&req.Sampling, samplingFields{
		maxTokens: c.MaxTokens, maxCompletionTokens: c.MaxCompletionTokens, temperature: c.Temperature,
		topP: c.TopP, n: c.N, stop: c.Stop, seed: c.Seed, topK: c.TopK, minP: c.MinP,
		presence: c.PresencePenalty, frequency: c.FrequencyPenalty, repetition: c.RepetitionPenalty,
	}); err != nil {
		return nil, err
	}
	if req.ResponseFormat, err = responseFormat(c.ResponseFormat); err != nil {
		return nil, err
	}
	if err = chatLogprobs(&req.Sampling, c.Logprobs, c.TopLogprobs); err != nil {
		return nil, err
	}
	for i, t := range c.Tools {
		p := fmt.Sprintf("tools[%d]", i)
		if t.Type != "" && t.Type != "function" {
			return nil, stream.InvalidParam(p+".type", "%s.type must be \"function\", not %q", p, t.Type)
		}
		if t.Function.Name == "" {
			return nil, stream.InvalidParam(p+".function.name", "%s.function.name is required", p)
		}
		req.Tools = append(req.Tools, stream.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	choice, err := toolChoice(c.ToolChoice)
	if err != nil {
		return nil, err
	}
	req.ToolChoice = choice
	if c.StreamOptions != nil {
		if !c.Stream {
			return nil, stream.InvalidParam("stream_options", "stream_options is only allowed when stream is true")
		}
		req.IncludeUsage = c.StreamOptions.IncludeUsage
	}
	if err := dialect.StreamLimits(req, c.BufferSize, c.TimeoutMs, ""); err != nil {
		return nil, err
	}
	if c.ReasoningEffort != "" && c.ReasoningEffort != "none" {
		req.Thinking = true
	}
	if c.User != "" {
		if req.Metadata == nil {
			req.Metadata = map[string]string{}
		}
		if _, ok := req.Metadata["user"]; !ok {
			req.Metadata["user"] = c.User
		}
	}
	return req, nil
}

// ToRequest validates a completions request and converts it to a
// stream.Request with a raw prompt.
func (c *CompletionRequest) ToRequest() (*stream.Request, error) {
	if c.Model == "" {
		return nil, stream.InvalidParam("model", "model is required")
	}
	prompt, err := promptText(c.Prompt)
	if err != nil {
		return nil, err
	}
	if c.Echo {
		return nil, stream.InvalidParam("echo", "echo is not supported")
	}
	if c.Suffix != "" {
		return nil, stream.InvalidParam("suffix", "suffix is not supported")
	}
	req := &stream.Request{Model: c.Model, Prompt: prompt, RawPrompt: true, Metadata: c.Metadata}
	if err := sampling(&req.Sampling, samplingFields{
		maxTokens: c.MaxTokens, temperature: c.Temperature, topP: c.TopP, n: c.N, stop: c.Stop,
		seed: c.Seed, topK: c.TopK, minP: c.MinP, presence: c.PresencePenalty, frequency: c.FrequencyPenalty,
	}); err != nil {
		return nil, err
	}
	if req.ResponseFormat, err = responseFormat(c.ResponseFormat); err != nil {
		return nil, err
	}
	if n := c.Logprobs; n != nil {
		if *n < 0 || *n > maxLegacyLogprobs {
			return nil, stream.InvalidParam("logprobs", "logprobs must be between 0 and %d, got %d", maxLegacyLogprobs, *n)
		}
		req.Sampling.Logprobs, req.Sampling.TopLogprobs = true, *n
	}
	if c.StreamOptions != nil {
		if !c.Stream {
			return nil, stream.InvalidParam("stream_options", "stream_options is only allowed when stream is true")
		}
		req.IncludeUsage = c.StreamOptions.IncludeUsage
	}
	if err := dialect.StreamLimits(req, c.BufferSize, c.TimeoutMs, ""); err != nil {
		return nil, err
	}
	return req, nil
}

func (m *Message) toMessage(i int, out *stream.Message, view bool) error {
	switch m.Role {
	case stream.RoleSystem, "developer":
		out.Role = stream.RoleSystem
	case stream.RoleUser, stream.RoleAssistant, stream.RoleTool:
		out.Role = m.Role
	default:
		return m.badRole(i)
	}
	var (
		text       string
		isNull, ok bool
	)
	if view && m.Content != nil { // a string scanChat checked
		text, ok = dialect.ViewRaw(m.Content), true
	} else {
		text, isNull, ok = plainContent(m.Content)
	}
	if !ok {
		var err error
		if text, isNull, err = contentText(m.Content, fmt.Sprintf("messages[%d].content", i)); err != nil {
			return err
		}
	}
	if isNull || len(m.ToolCalls) > 0 || out.Role == stream.RoleTool {
		return m.toMessageRest(i, out, text, isNull)
	}
	out.Content, out.Name, out.Thinking = text, m.Name, m.ReasoningContent
	return nil
}

// badRole is the error of a message whose role is missing or unknown.
func (m *Message) badRole(i int) error {
	p := fmt.Sprintf("messages[%d]", i)
	if m.Role == "" {
		return stream.InvalidParam(p+".role", "%s.role is required", p)
	}
	return stream.InvalidParam(p+".role", "%s.role must be one of system, developer, user, assistant, tool; got %q", p, m.Role)
}

// plainContent is contentText for a string of plain ASCII, or valid UTF-8
// with no escapes, whose text is its bytes: no decoding needed. ok is
// false for any other content.
func plainContent(raw json.RawMessage) (text string, isNull, ok bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false, false
	}
	inner := raw[1 : n-1]
	end := dialect.PlainEndBytes(inner, 0)
	if end < len(inner) && (bytes.IndexByte(inner[end:], '\\') >= 0 || bytes.IndexByte(inner[end:], '"') >= 0 ||
		hasControl(inner[end:]) || !utf8.Valid(inner[end:])) {
		return "", false, false
	}
	return string(inner), false, true
}

// hasControl reports a byte below 0x20 in b.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// toMessageRest is toMessage for messages with null content, tool calls
// or of the tool role, where the rest of its checks apply.
func (m *Message) toMessageRest(i int, out *stream.Message, text string, isNull bool) error {
	p := fmt.Sprintf("messages[%d]", i)
	if isNull && !(out.Role == stream.RoleAssistant && len(m.ToolCalls) > 0) {
		return stream.InvalidParam(p+".content", "%s.content is required", p)
	}
	out.Content, out.Name, out.Thinking = text, m.Name, m.ReasoningContent
	if len(m.ToolCalls) > 0 {
		if out.Role != stream.RoleAssistant {
			return stream.InvalidParam(p+".tool_calls", "%s.tool_calls is only allowed on assistant messages", p)
		}
		out.ToolCalls = make([]stream.ToolCall, len(m.ToolCalls))
		for j, tc := range m.ToolCalls {
			if tc.Function.Name == "" {
				q := fmt.Sprintf("%s.tool_calls[%d].function.name", p, j)
				return stream.InvalidParam(q, "%s is required", q)
			}
			out.ToolCalls[j] = stream.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments}
		}
	}
	if out.Role == stream.RoleTool {
		if m.ToolCallID == "" {
			return stream.InvalidParam(p+".tool_call_id", "%s.tool_call_id is required on tool messages", p)
		}
		out.ToolCallID = m.ToolCallID
	}
	return nil
}

// contentText flattens a message content, a string or an array of text
// parts, to text. isNull reports an absent or null content.
func contentText(raw json.RawMessage, param string) (text string, isNull bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", true, nil
	}
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", false, stream.InvalidParam(param, "%s is not a valid string", param)
		}
		return text, false, nil
	case '[':
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", false, stream.InvalidParam(param, "%s must be a string or an array of content parts", param)
		}
		var b strings.Builder
		for j, rp := range parts {
			q := fmt.Sprintf("%s[%d]", param, j)
			var part ContentPart
			if err := json.Unmarshal(rp, &part); err != nil || bytes.TrimSpace(rp)[0] != '{' {
				return "", false, stream.InvalidParam(q, "%s must be an object like {\"type\":\"text\",\"text\":\"...\"}", q)
			}
			if part.Type != "text" {
				return "", false, stream.InvalidParam(q+".type", "%s.type %q is not supported; only \"text\" parts are", q, part.Type)
			}
			b.WriteString(part.Text)
		}
		return b.String(), false, nil
	}
	return "", false, stream.InvalidParam(param, "%s must be a string or an array of content parts", param)
}

func promptText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", stream.InvalidParam("prompt", "prompt is required")
	}
	var s string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &s); err == nil {
			return s, nil
		}
	case '[':
		var arr []string
		if err := json.Unmarshal(raw, &arr); err != nil {
			return "", stream.InvalidParam("prompt", "prompt must be a string or an array of one string; token arrays are not supported")
		}
		if len(arr) != 1 {
			return "", stream.InvalidParam("prompt", "prompt must be a string or an array of exactly one string, got %d", len(arr))
		}
		return arr[0], nil
	}
	return "", stream.InvalidParam("prompt", "prompt must be a string or an array of one string")
}

type samplingFields struct {
	maxTokens, maxCompletionTokens, n, topK *int
	temperature, topP, minP                 *float64
	presence, frequency, repetition         *float64
	seed                                    *int64
	stop                                    json.RawMessage
}

func sampling(s *stream.Sampling, f samplingFields) error {
	if f.n != nil && *f.n != 1 {
		return stream.InvalidParam("n", "n must be 1; Runnel returns one choice per request (got %d)", *f.n)
	}
	for _, mt := range []struct {
		name string
		v    *int
	}{{"max_tokens", f.maxTokens}, {"max_completion_tokens", f.maxCompletionTokens}} {
		if mt.v == nil {
			continue
		}
		if *mt.v < 1 {
			return stream.InvalidParam(mt.name, "%s must be at least 1, got %d", mt.name, *mt.v)
		}
		if s.MaxTokens == 0 || *mt.v < s.MaxTokens {
			s.MaxTokens = *mt.v
		}
	}
	if t := f.temperature; t != nil {
		if !(*t >= 0 && *t <= 2) {
			return stream.InvalidParam("temperature", "temperature must be between 0 and 2, got %g", *t)
		}
		s.Temperature = t
	}
	if p := f.topP; p != nil {
		if !(*p >= 0 && *p <= 1) {
			return stream.InvalidParam("top_p", "top_p must be between 0 and 1, got %g", *p)
		}
		s.TopP = p
	}
	if k := f.topK; k != nil {
		if *k < 0 {
			return stream.InvalidParam("top_k", "top_k must not be negative, got %d", *k)
		}
		s.TopK = k
	}
	if p := f.minP; p != nil {
		if !(*p >= 0 && *p <= 1) {
			return stream.InvalidParam("min_p", "min_p must be between 0 and 1, got %g", *p)
		}
		s.MinP = p
	}
	for _, pen := range []struct {
		name string
		v    *float64
	}{{"presence_penalty", f.presence}, {"frequency_penalty", f.frequency}} {
		if pen.v != nil && !(*pen.v >= -2 && *pen.v <= 2) {
			return stream.InvalidParam(pen.name, "%s must be between -2 and 2, got %g", pen.name, *pen.v)
		}
	}
	if r := f.repetition; r != nil {
		if !(*r > 0) {
			return stream.InvalidParam("repetition_penalty", "repetition_penalty must be positive, got %g", *r)
		}
		s.RepeatPenalty = r
	}
	s.Seed = f.seed
	stops, err := stopList(f.stop)
	if err != nil {
		return err
	}
	s.Stop = stops
	return nil
}

func stopList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var one string
	if raw[0] == '"' && json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if raw[0] != '[' || json.Unmarshal(raw, &many) != nil {
		return nil, stream.InvalidParam("stop", "stop must be a string or an array of strings")
	}
	if len(many) > maxStops {
		return nil, stream.InvalidParam("stop", "stop may hold at most %d sequences, got %d", maxStops, len(many))
	}
	out := many[:0]
	for _, s := range many {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// toolChoice maps chat's tool_choice: a mode or
// {"type":"function","function":{"name":...}}.
func toolChoice(raw json.RawMessage) (string, error) {
	const want = `"none", "auto", "required" or {"type":"function","function":{"name":...}}`
	mode, raw, err := toolChoiceMode(raw, want)
	if raw == nil {
		return mode, err
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Function.Name == "" {
		return "", stream.InvalidParam("tool_choice", "tool_choice must be %s", want)
	}
	return obj.Function.Name, nil
}

// toolChoiceMode reads a tool_choice that is absent, null or a mode
// ("none", "auto", "required"); an object is returned as rest, for the
// dialect's own shape (want describes the valid values, for errors).
func toolChoiceMode(raw json.RawMessage, want string) (mode string, rest json.RawMessage, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil, nil
	}
	if raw[0] == '{' {
		return "", raw, nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", nil, stream.InvalidParam("tool_choice", "tool_choice must be %s", want)
	}
	switch s {
	case "none", "auto", "required":
		return s, nil, nil
	}
	return "", nil, stream.InvalidParam("tool_choice", "tool_choice must be %s, got %q", want, s)
}

// OpenAI's limits on alternatives per token: chat's top_logprobs and
// legacy completions' logprobs.
const (
	maxTopLogprobs    = 20
	maxLegacyLogprobs = 5
)

// chatLogprobs maps chat's logprobs and top_logprobs, by OpenAI's rules:
// top_logprobs is 0-20 and needs logprobs true.
func chatLogprobs(s *stream.Sampling, logprobs *bool, top *int) error {
	s.Logprobs = logprobs != nil && *logprobs
	if top == nil {
		return nil
	}
	if *top < 0 || *top > maxTopLogprobs {
		return stream.InvalidParam("top_logprobs", "top_logprobs must be between 0 and %d, got %d", maxTopLogprobs, *top)
	}
	if !s.Logprobs {
		return stream.InvalidParam("top_logprobs", "top_logprobs requires logprobs to be true")
	}
	s.TopLogprobs = *top
	return nil
}

// responseFormat maps response_format; a *stream.Error is returned as an
// error only when there is one, so callers can assign both at once.
func responseFormat(raw json.RawMessage) (*stream.ResponseFormat, error) {
	f, err := dialect.ParseResponseFormat(raw, "response_format")
	if err != nil {
		return nil, err
	}
	return f, nil
}

// streamed says whether the request asks for a stream, for the check that
// the model can stream.
func (c *ChatRequest) streamed() bool { return c.Stream }

func (c *CompletionRequest) streamed() bool { return c.Stream }
