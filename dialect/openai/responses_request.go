package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// ToRequest validates a Responses request and converts it to a
// stream.Request. Errors are *stream.Error with CodeInvalidRequest naming
// the field, as OpenAI names it ("input[2].content[0].type").
func (c *ResponsesRequest) ToRequest() (*stream.Request, error) {
	if err := c.refuseStateful(); err != nil {
		return nil, err
	}
	if c.Model == "" {
		return nil, stream.InvalidParam("model", "model is required")
	}
	req := &stream.Request{Model: c.Model}
	if c.Instructions != nil && *c.Instructions != "" {
		req.Messages = append(req.Messages, stream.Message{Role: stream.RoleSystem, Content: *c.Instructions})
	}
	msgs, err := inputMessages(c.Input)
	if err != nil {
		return nil, err
	}
	req.Messages = append(req.Messages, msgs...)
	if err := sampling(&req.Sampling, samplingFields{temperature: c.Temperature, topP: c.TopP}); err != nil {
		return nil, err
	}
	if n := c.MaxOutputTokens; n != nil {
		if *n < 1 {
			return nil, stream.InvalidParam("max_output_tokens", "max_output_tokens must be at least 1, got %d", *n)
		}
		req.Sampling.MaxTokens = *n
	}
	if n := c.TopLogprobs; n != nil && *n != 0 {
		return nil, stream.InvalidParam("top_logprobs", "top_logprobs is not supported on /v1/responses; use /v1/chat/completions with logprobs")
	}
	for _, inc := range c.Include {
		// Reasoning items carry no encrypted content here (the thinking is
		// sent as text), so asking for it changes nothing; anything else
		// asks for output Runnel would not send.
		if inc != "reasoning.encrypted_content" {
			return nil, stream.InvalidParam("include", "include %q is not supported; only \"reasoning.encrypted_content\" is accepted", inc)
		}
	}
	switch c.Truncation {
	case "", "disabled":
	default:
		return nil, stream.InvalidParam("truncation", "truncation must be \"disabled\": Runnel does not truncate input (got %q)", c.Truncation)
	}
	if req.Tools, err = responsesTools(c.Tools); err != nil {
		return nil, err
	}
	if req.ToolChoice, err = responsesToolChoice(c.ToolChoice); err != nil {
		return nil, err
	}
	if r := c.Reasoning; r != nil && r.Effort != nil {
		switch *r.Effort {
		case "none":
		case "minimal", "low", "medium", "high", "xhigh":
			req.Thinking = true
		default:
			return nil, stream.InvalidParam("reasoning.effort", "reasoning.effort must be one of none, minimal, low, medium, high, xhigh; got %q", *r.Effort)
		}
	}
	if _, err := c.summary(); err != nil {
		return nil, err
	}
	if c.Text != nil {
		if req.ResponseFormat, err = textFormat(c.Text.Format); err != nil {
			return nil, err
		}
	}
	if err := dialect.StreamLimits(req, c.BufferSize, c.TimeoutMs, ""); err != nil {
		return nil, err
	}
	if len(c.Metadata) > 0 || c.User != "" {
		req.Metadata = make(map[string]string, len(c.Metadata)+1)
		for k, v := range c.Metadata {
			req.Metadata[k] = v
		}
		if _, ok := req.Metadata["user"]; !ok && c.User != "" {
			req.Metadata["user"] = c.User
		}
	}
	return req, nil
}

// refuseStateful refuses what needs state Runnel does not keep
// (conversations, stored prompts) or background runs: a client relying on
// them must learn at once, not get an answer that silently lacks the
// earlier turns.
func (c *ResponsesRequest) refuseStateful() error {
	if c.PreviousResponseID != nil && *c.PreviousResponseID != "" && !c.resolved {
		return stream.InvalidParam("previous_response_id", "previous_response_id needs the server's stored responses (Server.resolve)")
	}
	if c.Background != nil && *c.Background {
		return stream.InvalidParam("background", "background is not supported: Runnel runs responses while the request is open (for a stream that survives a broken connection, send Runnel-Resumable: true)")
	}
	if isSet(c.Conversation) {
		return stream.InvalidParam("conversation", "conversation is not supported: Runnel does not store conversations; send the earlier turns in input")
	}
	if isSet(c.Prompt) {
		return stream.InvalidParam("prompt", "prompt (a stored prompt template) is not supported; send instructions and input")
	}
	return nil
}

// summary reports whether reasoning.summary (or generate_summary) asks for
// thinking as a reasoning summary; else it is streamed as reasoning text.
func (c *ResponsesRequest) summary() (bool, error) {
	if c.Reasoning == nil {
		return false, nil
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"reasoning.summary", c.Reasoning.Summary}, {"reasoning.generate_summary", c.Reasoning.GenerateSummary}} {
		if f.v == nil {
			continue
		}
		switch *f.v {
		case "auto", "concise", "detailed":
			return true, nil
		default:
			return false, stream.InvalidParam(f.name, "%s must be auto, concise or detailed; got %q", f.name, *f.v)
		}
	}
	return false, nil
}

func isSet(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// inputMessages converts input: a string (one user message) or a list of
// items. A function_call item joins the assistant turn before it (or
// starts one), and a reasoning item's text goes with the assistant turn
// after it.
func inputMessages(raw json.RawMessage) ([]stream.Message, error) {
	raw = bytes.TrimSpace(raw)
	if !isSet(raw) {
		return nil, stream.InvalidParam("input", "input is required")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, stream.InvalidParam("input", "input is not a valid string")
		}
		return []stream.Message{{Role: stream.RoleUser, Content: s}}, nil
	case '[':
	default:
		return nil, stream.InvalidParam("input", "input must be a string or an array of input items")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, stream.InvalidParam("input", "input must be a string or an array of input items")
	}
	if len(items) == 0 {
		return nil, stream.InvalidParam("input", "input must contain at least one item")
	}
	var (
		out      []stream.Message
		thinking string // of a reasoning item, for the next assistant turn
	)
	for i, rawItem := range items {
		p := fmt.Sprintf("input[%d]", i)
		var it inputItem
		if b := bytes.TrimSpace(rawItem); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &it) != nil {
			return nil, stream.InvalidParam(p, "%s must be an input item object, like {\"role\":\"user\",\"content\":\"...\"}", p)
		}
		switch it.Type {
		case "message", "":
			m, err := it.message(p)
			if err != nil {
				return nil, err
			}
			if m.Role == stream.RoleAssistant {
				m.Thinking, thinking = thinking, ""
			}
			out = append(out, m)
		case "function_call":
			if it.CallID == "" {
				return nil, stream.InvalidParam(p+".call_id", "%s.call_id is required", p)
			}
			if it.Name == "" {
				return nil, stream.InvalidParam(p+".name", "%s.name is required", p)
			}
			if it.Arguments == nil {
				return nil, stream.InvalidParam(p+".arguments", "%s.arguments is required", p)
			}
			tc := stream.ToolCall{ID: it.CallID, Name: it.Name, Arguments: *it.Arguments}
			if n := len(out); n > 0 && out[n-1].Role == stream.RoleAssistant && thinking == "" {
				out[n-1].ToolCalls = append(out[n-1].ToolCalls, tc)
				continue
			}
			out = append(out, stream.Message{Role: stream.RoleAssistant, Thinking: thinking, ToolCalls: []stream.ToolCall{tc}})
			thinking = ""
		case "function_call_output":
			if it.CallID == "" {
				return nil, stream.InvalidParam(p+".call_id", "%s.call_id is required", p)
			}
			text, err := outputText(it.Output, p+".output")
			if err != nil {
				return nil, err
			}
			out = append(out, stream.Message{Role: stream.RoleTool, ToolCallID: it.CallID, Content: text})
		case "reasoning":
			var sb strings.Builder
			for _, s := range it.Summary {
				sb.WriteString(s.Text)
			}
			parts, err := contentParts(it.Content, p+".content")
			if err != nil {
				return nil, err
			}
			for _, s := range parts {
				sb.WriteString(s.Text)
			}
			thinking += sb.String()
		case "item_reference":
			// Server.resolve replaced those it found.
			return nil, stream.InvalidParam(p+".type", "%s is an item_reference that was not resolved; send the item itself", p)
		default:
			return nil, stream.InvalidParam(p+".type", "%s.type %q is not supported; use message, function_call, function_call_output or reasoning items", p, it.Type)
		}
	}
	return out, nil
}

// message converts a message item.
func (it *inputItem) message(p string) (stream.Message, error) {
	var m stream.Message
	switch it.Role {
	case stream.RoleSystem, "developer":
		m.Role = stream.RoleSystem
	case stream.RoleUser, stream.RoleAssistant:
		m.Role = it.Role
	case "":
		return m, stream.InvalidParam(p+".role", "%s.role is required", p)
	default:
		return m, stream.InvalidParam(p+".role", "%s.role must be one of user, assistant, system, developer; got %q", p, it.Role)
	}
	raw := bytes.TrimSpace(it.Content)
	if !isSet(raw) {
		return m, stream.InvalidParam(p+".content", "%s.content is required", p)
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &m.Content); err != nil {
			return m, stream.InvalidParam(p+".content", "%s.content is not a valid string", p)
		}
		return m, nil
	}
	parts, err := contentParts(raw, p+".content")
	if err != nil {
		return m, err
	}
	var sb strings.Builder
	for j, part := range parts {
		q := fmt.Sprintf("%s.content[%d]", p, j)
		switch part.Type {
		case "input_text", "output_text", "text":
			sb.WriteString(part.Text)
		case "refusal":
			sb.WriteString(part.Refusal)
		case "":
			return m, stream.InvalidParam(q+".type", "%s.type is required", q)
		default:
			return m, stream.InvalidParam(q+".type", "%s.type %q is not supported; only text parts (input_text, output_text) are", q, part.Type)
		}
	}
	m.Content = sb.String()
	return m, nil
}

// contentParts decodes an array of parts at p (absent or null is none).
func contentParts(raw json.RawMessage, p string) ([]textPart, error) {
	raw = bytes.TrimSpace(raw)
	if !isSet(raw) {
		return nil, nil
	}
	var parts []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return nil, stream.InvalidParam(p, "%s must be a string or an array of content parts", p)
	}
	out := make([]textPart, len(parts))
	for j, rp := range parts {
		if b := bytes.TrimSpace(rp); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &out[j]) != nil {
			q := fmt.Sprintf("%s[%d]", p, j)
			return nil, stream.InvalidParam(q, "%s must be an object like {\"type\":\"input_text\",\"text\":\"...\"}", q)
		}
	}
	return out, nil
}

// outputText is a function call's output: a string, or text parts.
func outputText(raw json.RawMessage, p string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if !isSet(raw) {
		return "", stream.InvalidParam(p, "%s is required", p)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", stream.InvalidParam(p, "%s is not a valid string", p)
		}
		return s, nil
	}
	parts, err := contentParts(raw, p)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for j, part := range parts {
		if part.Type != "input_text" && part.Type != "output_text" && part.Type != "text" {
			q := fmt.Sprintf("%s[%d].type", p, j)
			return "", stream.InvalidParam(q, "%s %q is not supported; only input_text parts are", q, part.Type)
		}
		sb.WriteString(part.Text)
	}
	return sb.String(), nil
}

// responsesTools converts function tools; the built-in tools (web search,
// file search, code interpreter…) run on OpenAI's side, which Runnel does
// not have, so they are refused by name.
func responsesTools(raw []json.RawMessage) ([]stream.Tool, error) {
	var out []stream.Tool
	for i, rt := range raw {
		p := fmt.Sprintf("tools[%d]", i)
		var t responseTool
		if b := bytes.TrimSpace(rt); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &t) != nil {
			return nil, stream.InvalidParam(p, "%s must be an object like {\"type\":\"function\",\"name\":\"...\"}", p)
		}
		switch t.Type {
		case "function":
		case "":
			return nil, stream.InvalidParam(p+".type", "%s.type is required", p)
		default:
			return nil, stream.InvalidParam(p+".type", "%s.type %q is not supported: Runnel runs no built-in tools; only \"function\" tools are", p, t.Type)
		}
		if t.Name == "" {
			return nil, stream.InvalidParam(p+".name", "%s.name is required", p)
		}
		params := bytes.TrimSpace(t.Parameters)
		if bytes.Equal(params, []byte("null")) {
			params = nil
		}
		if len(params) > 0 && params[0] != '{' {
			return nil, stream.InvalidParam(p+".parameters", "%s.parameters must be a JSON Schema object", p)
		}
		out = append(out, stream.Tool{Name: t.Name, Description: t.Description, Parameters: params})
	}
	return out, nil
}

// responsesToolChoice maps tool_choice: "none", "auto", "required" or
// {"type":"function","name":...}.
func responsesToolChoice(raw json.RawMessage) (string, error) {
	const want = `"none", "auto", "required" or {"type":"function","name":...}`
	mode, raw, err := toolChoiceMode(raw, want)
	if raw == nil {
		return mode, err
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return "", stream.InvalidParam("tool_choice", "tool_choice must be %s", want)
	}
	if obj.Type != "function" {
		return "", stream.InvalidParam("tool_choice.type", "tool_choice.type %q is not supported; only \"function\" is", obj.Type)
	}
	if obj.Name == "" {
		return "", stream.InvalidParam("tool_choice.name", "tool_choice.name is required")
	}
	return obj.Name, nil
}

// textFormat maps text.format: {"type":"text"}, {"type":"json_object"} or
// {"type":"json_schema","name":...,"schema":{...},"strict":...}.
func textFormat(raw json.RawMessage) (*stream.ResponseFormat, error) {
	const p = "text.format"
	raw = bytes.TrimSpace(raw)
	if !isSet(raw) {
		return nil, nil
	}
	var f responsesFormat
	if raw[0] != '{' || json.Unmarshal(raw, &f) != nil || f.Type == nil {
		return nil, stream.InvalidParam(p, `%s must be an object with a type, like {"type":"json_object"}`, p)
	}
	out := &stream.ResponseFormat{Type: stream.FormatType(*f.Type)}
	switch out.Type {
	case stream.FormatText:
		return nil, nil
	case stream.FormatJSONObject:
		return out, nil
	case stream.FormatJSONSchema:
	default:
		return nil, stream.InvalidParam(p+".type", "%s.type must be text, json_object or json_schema, got %q", p, *f.Type)
	}
	if !dialect.ValidSchemaName(f.Name) {
		return nil, stream.InvalidParam(p+".name", "%s.name is required: 1 to 64 letters, digits, _ or -", p)
	}
	if sc := bytes.TrimSpace(f.Schema); isSet(sc) {
		if sc[0] != '{' {
			return nil, stream.InvalidParam(p+".schema", "%s.schema must be a JSON Schema object", p)
		}
		out.Schema = sc
	}
	out.Name, out.Description, out.Strict = f.Name, f.Description, f.Strict
	return out, nil
}

func (c *ResponsesRequest) streamed() bool { return c.Stream }
