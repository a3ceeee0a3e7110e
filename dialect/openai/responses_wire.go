package openai

import (
	"encoding/json"
	"strconv"

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
	// Store (true when absent, as OpenAI's default) keeps the response
	// for previous_response_id, item_reference and GET (see
	// responses_store.go); false keeps nothing.
	Store       *bool    `json:"store,omitempty"`
	Include     []string `json:"include,omitempty"`
	Truncation  string   `json:"truncation,omitempty"`
	TopLogprobs *int     `json:"top_logprobs,omitempty"`
	// PreviousResponseID continues a stored response: its input and
	// output come before Input (Server.resolve).
	PreviousResponseID *string `json:"previous_response_id,omitempty"`

	// Features that need state Runnel does not keep, or tools it does not
	// run: refused with a 400 naming them, never ignored.
	Background   *bool           `json:"background,omitempty"`
	Conversation json.RawMessage `json:"conversation,omitempty"`
	Prompt       json.RawMessage `json:"prompt,omitempty"`

	// Runnel's extensions, as on chat completions.
	BufferSize *int   `json:"buffer_size,omitempty"`
	TimeoutMs  *int64 `json:"timeout_ms,omitempty"`

	// resolved: Input holds what previous_response_id and item
	// references stand for (Server.resolve).
	resolved bool
}

// stores reports whether the response is to be kept.
func (c *ResponsesRequest) stores() bool { return c.Store == nil || *c.Store }

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
// .completed, .incomplete and .failed.
type Response struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"` // "response"
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"`
	Error             *ResponseError     `json:"error"`
	IncompleteDetails *IncompleteDetails `json:"incomplete_details"`
	Output            []OutputItem       `json:"output"`
	Usage             *ResponseUsage     `json:"usage"`
	ResponseSettings
}

// ResponseSettings are the request's settings, which a response echoes as
// they came (with OpenAI's defaults where the request set none). They are
// the same in every event of a stream, so they are encoded once.
type ResponseSettings struct {
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Model              string            `json:"model"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          json.RawMessage   `json:"reasoning"`
	Store              bool              `json:"store"`
	Temperature        *float64          `json:"temperature"`
	Text               json.RawMessage   `json:"text"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Tools              []json.RawMessage `json:"tools"`
	TopP               *float64          `json:"top_p"`
	Truncation         string            `json:"truncation"`
	User               *string           `json:"user"`
	Metadata           map[string]string `json:"metadata"`
}

// MarshalJSON encodes r (see appendResponse).
func (r Response) MarshalJSON() ([]byte, error) {
	tail, err := r.ResponseSettings.tail()
	if err != nil {
		return nil, err
	}
	return appendResponse(nil, &r, tail), nil
}

// tail is the settings' JSON without its opening brace: the end of every
// encoded response.
func (s *ResponseSettings) tail() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return b[1:], nil
}

// appendResponse appends r's JSON to b, by hand but for tail, its settings
// encoded once (ResponseSettings.tail): a stream encodes its response
// three times.
func appendResponse(b []byte, r *Response, tail []byte) []byte {
	b = append(b, `{"id":`...)
	b = dialect.AppendJSONString(b, r.ID)
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, r.CreatedAt, 10)
	b = append(b, `,"status":`...)
	b = dialect.AppendJSONString(b, r.Status)
	b = append(b, `,"error":`...)
	if e := r.Error; e != nil {
		b = append(b, `{"code":`...)
		b = dialect.AppendJSONString(b, e.Code)
		b = append(b, `,"message":`...)
		b = dialect.AppendJSONString(b, e.Message)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if d := r.IncompleteDetails; d != nil {
		b = append(b, `{"reason":`...)
		b = dialect.AppendJSONString(b, d.Reason)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"output":[`...)
	for i := range r.Output {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOutputItem(b, &r.Output[i])
	}
	b = append(b, `],"usage":`...)
	if u := r.Usage; u != nil {
		b = append(b, `{"input_tokens":`...)
		b = strconv.AppendInt(b, int64(u.InputTokens), 10)
		b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(u.InputTokensDetails.CachedTokens), 10)
		b = append(b, `},"output_tokens":`...)
		b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
		b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, int64(u.OutputTokensDetails.ReasoningTokens), 10)
		b = append(b, `},"total_tokens":`...)
		b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	return append(b, tail...)
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
func (o OutputItem) MarshalJSON() ([]byte, error) { return appendOutputItem(nil, &o), nil }

// appendOutputItem appends o's JSON to b: by hand, since every streamed
// response encodes each item at least twice.
func appendOutputItem(b []byte, o *OutputItem) []byte {
	b = append(b, `{"id":`...)
	b = dialect.AppendJSONString(b, o.ID)
	b = append(b, `,"type":`...)
	b = dialect.AppendJSONString(b, o.Type)
	switch o.Type {
	case "message":
		b = append(b, `,"status":`...)
		b = dialect.AppendJSONString(b, o.Status)
		b = append(b, `,"role":`...)
		b = dialect.AppendJSONString(b, o.Role)
		b = appendContentItems(append(b, `,"content":`...), o.Content)
	case "reasoning":
		b = appendContentItems(append(b, `,"summary":`...), o.Summary)
		if o.Content != nil {
			b = appendContentItems(append(b, `,"content":`...), o.Content)
		}
	default:
		b = append(b, `,"status":`...)
		b = dialect.AppendJSONString(b, o.Status)
		b = append(b, `,"call_id":`...)
		b = dialect.AppendJSONString(b, o.CallID)
		b = append(b, `,"name":`...)
		b = dialect.AppendJSONString(b, o.Name)
		b = append(b, `,"arguments":`...)
		b = dialect.AppendJSONString(b, o.Arguments)
	}
	return append(b, '}')
}

// appendContentItems appends the JSON array of c ([] when empty).
func appendContentItems(b []byte, c []ContentItem) []byte {
	b = append(b, '[')
	for i := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendContentItem(b, c[i].Type, c[i].Text)
	}
	return append(b, ']')
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
	return appendContentItem(nil, c.Type, c.Text), nil
}

func appendContentItem(b []byte, typ, text string) []byte {
	b = append(b, `{"type":`...)
	b = dialect.AppendJSONString(b, typ)
	b = append(b, `,"text":`...)
	b = dialect.AppendJSONString(b, text)
	if typ == "output_text" {
		b = append(b, `,"annotations":[],"logprobs":[]`...)
	}
	return append(b, '}')
}
