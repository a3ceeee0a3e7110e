package stream

import (
	"bytes"
	"encoding/json"
	"time"
)

// Role of a chat message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Request is one LLM call, independent of the dialect it arrived in.
type Request struct {
	// Model is the name the caller asked for. Routers rewrite it to the
	// name the chosen provider knows.
	Model string

	// Messages is the conversation. For a completion-style call it is empty
	// and Prompt holds the raw text.
	Messages []Message
	// Prompt is raw text fed to the model as is (OpenAI /v1/completions,
	// Ollama /api/generate). Set RawPrompt when Messages is empty and Prompt
	// must be used even if it is the empty string.
	Prompt    string
	RawPrompt bool

	Sampling Sampling

	// Tools the model may call, and how it must choose ("auto", "none",
	// "required", or a tool name).
	Tools      []Tool
	ToolChoice string

	// Thinking asks a model that can reason to expose its thinking channel.
	Thinking bool

	// ResponseFormat asks for structured output; nil (or FormatText) is
	// free text. A provider that cannot honour a JSON format must refuse
	// the call, never ignore the field.
	ResponseFormat *ResponseFormat

	// IncludeUsage asks for a usage event even where the dialect makes it
	// optional (OpenAI stream_options.include_usage). Providers always send
	// usage when they know it; this flag only affects encoders.
	IncludeUsage bool

	Timeouts Timeouts

	// BufferSize asks for a per-stream buffer of that many events between
	// the producer and the reader (0: the server's default). The gateway
	// honours it within its limit (MaxBufferSize).
	BufferSize int

	// Metadata is free-form caller data (tags, user ids). It is recorded with
	// the call and never sent upstream unless a provider maps it.
	Metadata map[string]string
}

// Sampling holds generation controls. A nil pointer means "not set": the
// provider's default applies.
type Sampling struct {
	MaxTokens     int // 0 = not set
	Temperature   *float64
	TopP          *float64
	TopK          *int
	MinP          *float64
	RepeatPenalty *float64
	Seed          *int64
	Stop          []string
	// Logprobs asks for the log probabilities of the output tokens, and
	// TopLogprobs (0-20) for that many most likely alternatives at each
	// position. A provider that cannot report them must refuse the call
	// (LogprobsUnsupported), never ignore the field.
	Logprobs    bool
	TopLogprobs int
}

// MaxBufferSize bounds Request.BufferSize: a bigger buffer would let one
// stream hold more memory than backpressure is meant to allow.
const MaxBufferSize = 4096

// Timeouts bound a stream. Zero means no limit.
type Timeouts struct {
	FirstToken time.Duration // from the call to the first content event
	Idle       time.Duration // between two content events
	Total      time.Duration // whole stream
}

// Message is one turn of a conversation.
type Message struct {
	Role    string
	Content string
	Name    string
	// Thinking is reasoning text of an earlier assistant turn, kept for
	// providers that accept it back.
	Thinking   string
	ToolCalls  []ToolCall // assistant turns that called tools
	ToolCallID string     // tool turns: the call this message answers
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema
}

// ToolCall is a complete tool call.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // JSON text
}

// FormatType is the kind of output a ResponseFormat asks for.
type FormatType string

const (
	FormatText       FormatType = "text"        // free text, the default
	FormatJSONObject FormatType = "json_object" // any valid JSON object
	FormatJSONSchema FormatType = "json_schema" // JSON matching Schema
)

// ResponseFormat is OpenAI's response_format (and Ollama's format) in one
// shape. Name, Description, Schema and Strict apply to FormatJSONSchema.
type ResponseFormat struct {
	Type        FormatType
	Name        string // may be empty when the dialect has none (Ollama)
	Description string
	// Schema is a JSON Schema object, kept as the caller sent it; empty
	// when the caller gave none.
	Schema json.RawMessage
	Strict *bool // nil: not set
}

// IsJSON reports whether f asks for JSON output (an object or a schema).
func (f *ResponseFormat) IsJSON() bool {
	return f != nil && (f.Type == FormatJSONObject || f.Type == FormatJSONSchema)
}

// FormatUnsupported is the 400 for a JSON response format that provider
// cannot honour: it names the field and the provider.
func FormatUnsupported(provider string, f *ResponseFormat) *Error {
	return InvalidParam("response_format", "response_format %s is not supported by provider %s: it cannot constrain its output to JSON", f.Type, provider)
}

// Clone returns a copy of r that can be modified without affecting r.
// Slices and maps are copied one level deep; ResponseFormat, which
// providers may rewrite, is copied in full.
func (r *Request) Clone() *Request {
	c := *r
	if f := r.ResponseFormat; f != nil {
		cf := *f
		cf.Schema = bytes.Clone(f.Schema)
		if f.Strict != nil {
			strict := *f.Strict
			cf.Strict = &strict
		}
		c.ResponseFormat = &cf
	}
	c.Messages = append([]Message(nil), r.Messages...)
	c.Tools = append([]Tool(nil), r.Tools...)
	c.Sampling.Stop = append([]string(nil), r.Sampling.Stop...)
	if r.Metadata != nil {
		c.Metadata = make(map[string]string, len(r.Metadata))
		for k, v := range r.Metadata {
			c.Metadata[k] = v
		}
	}
	return &c
}
