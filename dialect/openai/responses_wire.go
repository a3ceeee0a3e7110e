package openai

import (
	"encoding/json"

	"github.com/runnel/runnel/dialect"
)

// This file holds the wire types of OpenAI's Responses API (POST
// /v1/responses), served beside chat completions: the same vendor's error
// shape, sampling rules and model routes, so the same package.

// ResponsesRequest is the body of POST /v1/responses. Fields that take more
// than one JSON type (input, content, tool_choice) are kept raw and checked
// by validation, which names each field's full path in its errors.
type ResponsesRequest struct {
	Model             string              `json:"model"`
	Input             json.RawMessage     `json:"input"`
	Instructions      *string             `json:"instructions,omitempty"`
	MaxOutputTokens   *int                `json:"max_output_tokens,omitempty"`
	Temperature       *float64            `json:"temperature,omitempty"`
	TopP              *float64            `json:"top_p,omitempty"`
	Tools             []json.RawMessage   `json:"tools,omitempty"`
	ToolChoice        json.RawMessage     `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool               `json:"parallel_tool_calls,omitempty"`
	Stream            bool                `json:"stream,omitempty"`
	Metadata          map[string]string   `json:"metadata,omitempty"`
	User              string              `json:"user,omitempty"`
	Reasoning         *ResponsesReasoning `json:"reasoning,omitempty"`
	Text              *ResponsesText      `json:"text,omitempty"`
	// Store is accepted whatever its value (clients send true by
	// default); Runnel keeps no response for retrieval and says so by
	// answering "store": false.
	Store       *bool    `json:"store,omitempty"`
	Include     []string `json:"include,omitempty"`
	Truncation  string   `json:"truncation,omitempty"`
	TopLogprobs *int     `json:"top_logprobs,omitempty"`

	// Features that need state Runnel does not keep, or tools it does not
	// run: refused with a 400 naming them, never ignored.
	PreviousResponseID *string         `json:"previous_response_id,omitempty"`
	Background         *bool           `json:"background,omitempty"`
	Conversation       json.RawMessage `json:"conversation,omitempty"`
	Prompt             json.RawMessage `json:"prompt,omitempty"`

	// Runnel's extensions, as on chat completions.
	BufferSize *int   `json:"buffer_size,omitempty"`
	TimeoutMs  *int64 `json:"timeout_ms,omitempty"`
}

// ResponsesReasoning is the request's reasoning object: effort maps to
// Request.Thinking; summary chooses how thinking is streamed (see
// responseEncoder).
type ResponsesReasoning struct {
	Effort          *string `json:"effort,omitempty"`
	Summary         *string `json:"summary,omitempty"`
	GenerateSummary *string `json:"generate_summary,omitempty"` // its older name
}

// ResponsesText is the request's text object.
type ResponsesText struct {
	Format    json.RawMessage `json:"format,omitempty"`
	Verbosity *string         `json:"verbosity,omitempty"`
}

// responsesFormat is text.format: JSON schema fields sit beside type, not
// in a nested json_schema object as in chat's response_format.
type responsesFormat struct {
	Type        *string         `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

// inputItem is one element of an input list: a message (with or without
// "type":"message"), a function call or its output, or a reasoning item of
// an earlier turn.
type inputItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments *string         `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	Summary   []textPart      `json:"summary"`
}

// textPart is a content part of an input message (input_text,
// output_text), a reasoning item's summary or content part, or a part of a
// function call's output.
type textPart struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Refusal string `json:"refusal"`
}

// responseTool is an element of tools.
type responseTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Response is the Response object: the answer of a call that is not
// streamed, and the response carried by response.created, .in_progress,
// .completed, .incomplete and .failed. The request's settings are echoed as
// they came.
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"` // "response"
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Error              *ResponseError     `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []OutputItem       `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          json.RawMessage    `json:"reasoning"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               json.RawMessage    `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              []json.RawMessage  `json:"tools"`
	TopP               *float64           `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *ResponseUsage     `json:"usage"`
	User               *string            `json:"user"`
	Metadata           map[string]string  `json:"metadata"`
}

// ResponseError is a failed response's error.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a response is incomplete.
type IncompleteDetails struct {
	Reason string `json:"reason"` // "max_output_tokens", "content_filter"
}

// ResponseUsage is a response's token count.
type ResponseUsage struct {
	InputTokens         int                 `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int                 `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int                 `json:"total_tokens"`
}

// InputTokensDetails breaks input tokens down.
type InputTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// OutputTokensDetails breaks output tokens down.
type OutputTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// OutputItem is an element of a response's output: a "message", a
// "reasoning" item or a "function_call"; each is encoded with its own
// type's fields (see MarshalJSON).
type OutputItem struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status,omitempty"`

	// message
	Role    string        `json:"role,omitempty"`
	Content []ContentItem `json:"content,omitempty"`

	// reasoning: the thinking as a summary, or as Content (reasoning_text)
	// when streamed raw.
	Summary []ContentItem `json:"summary,omitempty"`

	// function_call
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

// MarshalJSON writes the fields of the item's type, with the arrays its
// type requires present even when empty.
func (o OutputItem) MarshalJSON() ([]byte, error) {
	switch o.Type {
	case "message":
		return json.Marshal(struct {
			ID      string        `json:"id"`
			Type    string        `json:"type"`
			Status  string        `json:"status"`
			Role    string        `json:"role"`
			Content []ContentItem `json:"content"`
		}{o.ID, o.Type, o.Status, o.Role, nonNil(o.Content)})
	case "reasoning":
		return json.Marshal(struct {
			ID      string        `json:"id"`
			Type    string        `json:"type"`
			Summary []ContentItem `json:"summary"`
			Content []ContentItem `json:"content,omitempty"`
		}{o.ID, o.Type, nonNil(o.Summary), o.Content})
	}
	return json.Marshal(struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}{o.ID, o.Type, o.Status, o.CallID, o.Name, o.Arguments})
}

func nonNil(c []ContentItem) []ContentItem {
	if c == nil {
		return []ContentItem{}
	}
	return c
}

// ContentItem is a part of an output item: "output_text" in a message,
// "summary_text" or "reasoning_text" in a reasoning item.
type ContentItem struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// MarshalJSON gives output_text its (always empty) annotations and
// logprobs, which clients index without checking.
func (c ContentItem) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"type":`), dialect.AppendJSONString(nil, c.Type)...)
	b = append(b, `,"text":`...)
	b = dialect.AppendJSONString(b, c.Text)
	if c.Type == "output_text" {
		b = append(b, `,"annotations":[],"logprobs":[]`...)
	}
	return append(b, '}'), nil
}
