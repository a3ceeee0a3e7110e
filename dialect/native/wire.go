// Package native serves Runnel's own streaming APIs: the token stream
// (POST and GET /api/v1/inference/stream, with short-lived stream tokens so
// a browser EventSource can authenticate without headers) and typed
// multi-output generation (POST /api/v1/generate/stream and
// /api/v1/generate), whose events are indexed by output and end with usage,
// cost and warnings.
package native

import "encoding/json"

// InferenceRequest is the body of POST /api/v1/inference/stream.
type InferenceRequest struct {
	Model    string      `json:"model"`
	Messages []Message   `json:"messages"`
	Prompt   string      `json:"prompt,omitempty"`
	Params   *Parameters `json:"parameters,omitempty"`
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Parameters are the generation controls both native APIs take.
type Parameters struct {
	MaxTokens   *int     `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	// EnableThinking asks a model that can reason to think, and the token
	// stream to send its thinking (events with "channel": "thinking"); a
	// client that does not ask gets the answer only.
	EnableThinking bool `json:"enable_thinking,omitempty"`
	// BufferSize and TimeoutMs are seed 003's StreamConfig: this stream's
	// buffer in events and its time limit (see dialect.StreamLimits).
	BufferSize *int   `json:"buffer_size,omitempty"`
	TimeoutMs  *int64 `json:"timeout_ms,omitempty"`
	// ResponseFormat has OpenAI's response_format shape: {"type":"text"},
	// {"type":"json_object"} or {"type":"json_schema","json_schema":{...}}.
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
}

// Token is one event of the token stream. The final one has Done set,
// with the finish reason and usage; an error ends the stream with Done and
// Error.
type Token struct {
	Token        string     `json:"token"`
	Done         bool       `json:"done"`
	Provider     string     `json:"provider"`
	Channel      string     `json:"channel,omitempty"` // "thinking"; absent for output
	FinishReason string     `json:"finish_reason,omitempty"`
	Usage        *Usage     `json:"usage,omitempty"`
	Error        *ErrorBody `json:"error,omitempty"`
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// Cost of a call, in the price table's currency.
type Cost struct {
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
	Total  float64 `json:"total"`
}

// ErrorBody is the native error: {"error": {"code", "message", "param"?}}.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// ErrorResponse wraps ErrorBody as a response body.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// StreamToken is the answer of POST /api/v1/stream-tokens.
type StreamToken struct {
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"` // Unix seconds
}

// GenerateRequest is the body of the typed generation endpoints.
type GenerateRequest struct {
	ServiceName string      `json:"service_name"`
	ModelName   string      `json:"model_name"`
	Input       []InputItem `json:"input"`
	Params      *Parameters `json:"parameters,omitempty"`
	History     []Message   `json:"history,omitempty"`
}

// InputItem is one input: only text is supported. An item named "system"
// is the system prompt.
type InputItem struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Item is one event of a typed stream: a piece of output Index.
type Item struct {
	Type    string `json:"type"` // "text", "tool_call", "error"
	Name    string `json:"name"` // "output", "thinking", a tool's name, "error"
	Content string `json:"content"`
	Done    bool   `json:"done"`
	Index   int    `json:"index"`
	IsFinal bool   `json:"is_final"`
	ID      string `json:"id,omitempty"`   // tool calls
	Code    string `json:"code,omitempty"` // errors
}

// Final is the last event of a typed stream.
type Final struct {
	Final        bool     `json:"final"`
	Usage        Usage    `json:"usage"`
	Cost         Cost     `json:"cost"`
	Warnings     []string `json:"warnings"`
	FinishReason string   `json:"finish_reason"`
	Model        string   `json:"model"`
	Provider     string   `json:"provider"`
}

// GenerateResponse is the answer of POST /api/v1/generate.
type GenerateResponse struct {
	Output       []Item   `json:"output"`
	Usage        Usage    `json:"usage"`
	Cost         Cost     `json:"cost"`
	Warnings     []string `json:"warnings"`
	FinishReason string   `json:"finish_reason"`
	Model        string   `json:"model"`
	Provider     string   `json:"provider"`
}
