// Package openai speaks OpenAI's chat and completions API in both
// directions: a server (Runnel as an OpenAI-compatible endpoint) and an
// upstream Provider (Runnel in front of OpenAI, vLLM, llama.cpp, LiteLLM…).
// Both sides share the wire types in this file, so a round trip through the
// two gives back the same events.
// The Responses API (POST /v1/responses, responses*.go) is served here too,
// server side only: it shares this API's error shape and validation.
package openai

import "encoding/json"

// ChatRequest is the body of POST /v1/chat/completions. Fields that can take
// more than one JSON type (content, stop, tool_choice) are kept raw and
// checked by validation, which knows each field's full path for errors.
type ChatRequest struct {
	Model               string            `json:"model"`
	Messages            []Message         `json:"messages"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *StreamOptions    `json:"stream_options,omitempty"`
	MaxTokens           *int              `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int              `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	N                   *int              `json:"n,omitempty"`
	Stop                json.RawMessage   `json:"stop,omitempty"`
	Seed                *int64            `json:"seed,omitempty"`
	PresencePenalty     *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64          `json:"frequency_penalty,omitempty"`
	User                string            `json:"user,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	ResponseFormat      json.RawMessage   `json:"response_format,omitempty"`
	Logprobs            *bool             `json:"logprobs,omitempty"`
	TopLogprobs         *int              `json:"top_logprobs,omitempty"`
	Tools               []Tool            `json:"tools,omitempty"`
	ToolChoice          json.RawMessage   `json:"tool_choice,omitempty"`

	// Extensions understood by vLLM, llama.cpp and Runnel's engine.
	TopK              *int     `json:"top_k,omitempty"`
	MinP              *float64 `json:"min_p,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
	// ReasoningEffort asks reasoning models to think; Runnel maps any value
	// but "none" to Request.Thinking.
	ReasoningEffort string `json:"reasoning_effort,omitempty"`
	// BufferSize and TimeoutMs are Runnel's extensions (seed 003's
	// StreamConfig): this stream's buffer in events and its time limit,
	// within the server's (see dialect.StreamLimits). Never sent upstream.
	BufferSize *int   `json:"buffer_size,omitempty"`
	TimeoutMs  *int64 `json:"timeout_ms,omitempty"`
}

// StreamOptions is chat and completions' stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one chat message. Content is a string, an array of content
// parts, or null (an assistant turn that only called tools).
type Message struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content,omitempty"`
	Name             string          `json:"name,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
}

// ContentPart is one element of an array content.
type ContentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Tool is a function the model may call.
type Tool struct {
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction describes a tool's function.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolCall is a complete call in a message, or a fragment of one in a
// streamed delta (where Index says which call it belongs to).
type ToolCall struct {
	Index    *int             `json:"index,omitempty"`
	ID       string           `json:"id,omitempty"`
	Type     string           `json:"type,omitempty"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction is the function part of a tool call.
type ToolCallFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// CompletionRequest is the body of POST /v1/completions.
type CompletionRequest struct {
	Model            string            `json:"model"`
	Prompt           json.RawMessage   `json:"prompt"`
	Stream           bool              `json:"stream,omitempty"`
	StreamOptions    *StreamOptions    `json:"stream_options,omitempty"`
	MaxTokens        *int              `json:"max_tokens,omitempty"`
	Temperature      *float64          `json:"temperature,omitempty"`
	TopP             *float64          `json:"top_p,omitempty"`
	N                *int              `json:"n,omitempty"`
	Stop             json.RawMessage   `json:"stop,omitempty"`
	Seed             *int64            `json:"seed,omitempty"`
	PresencePenalty  *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64          `json:"frequency_penalty,omitempty"`
	User             string            `json:"user,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	ResponseFormat   json.RawMessage   `json:"response_format,omitempty"` // vLLM, llama.cpp
	// Logprobs is legacy's form: how many alternatives (0-5) to report
	// with each token's log probability; absent or null reports none.
	Logprobs *int     `json:"logprobs,omitempty"`
	Echo     bool     `json:"echo,omitempty"`
	Suffix   string   `json:"suffix,omitempty"`
	TopK     *int     `json:"top_k,omitempty"`
	MinP     *float64 `json:"min_p,omitempty"`
	// BufferSize and TimeoutMs are Runnel's extensions (seed 003's
	// StreamConfig): this stream's buffer in events and its time limit,
	// within the server's (see dialect.StreamLimits). Never sent upstream.
	BufferSize *int   `json:"buffer_size,omitempty"`
	TimeoutMs  *int64 `json:"timeout_ms,omitempty"`
}

// Chunk is one streamed event: object "chat.completion.chunk" or, for the
// legacy API, "text_completion".
type Chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	// Error is set in the event an upstream sends when it fails mid-stream.
	Error *ErrorBody `json:"error,omitempty"`
}

// ChunkChoice is a choice in a chunk.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	Text         string  `json:"text,omitempty"` // text_completion chunks
	FinishReason *string `json:"finish_reason"`
	// Logprobs is kept raw: Runnel passes it on, never reads inside.
	Logprobs json.RawMessage `json:"logprobs"`
}

// Delta is the incremental part of a chunk choice.
type Delta struct {
	Role             string  `json:"role,omitempty"`
	Content          *string `json:"content,omitempty"`
	ReasoningContent *string `json:"reasoning_content,omitempty"`
	// Reasoning is what some servers (vLLM's newer versions, OpenRouter)
	// send instead of reasoning_content.
	Reasoning *string    `json:"reasoning,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// Usage is OpenAI's token count.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// CompletionTokensDetails breaks completion tokens down.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// Timings are llama.cpp server's speed figures, sent with answers whose
// provider measured them (the built-in engine).
type Timings struct {
	PromptN             int     `json:"prompt_n"`
	PromptMS            float64 `json:"prompt_ms"`
	PromptPerSecond     float64 `json:"prompt_per_second"`
	PredictedN          int     `json:"predicted_n"`
	PredictedMS         float64 `json:"predicted_ms"`
	PredictedPerTokenMS float64 `json:"predicted_per_token_ms"`
	PredictedPerSecond  float64 `json:"predicted_per_second"`
}

// ChatCompletion is a non-streamed chat answer.
type ChatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *Usage       `json:"usage,omitempty"`
	Timings           *Timings     `json:"timings,omitempty"`
}

// ChatChoice is a choice of a non-streamed chat answer.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// ResponseMessage is the assistant message of a non-streamed answer.
type ResponseMessage struct {
	Role             string     `json:"role"`
	Content          *string    `json:"content"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	Refusal          *string    `json:"refusal"`
}

// TextCompletion is a non-streamed /v1/completions answer.
type TextCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"` // "text_completion"
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []TextChoice `json:"choices"`
	Usage   *Usage       `json:"usage,omitempty"`
	Timings *Timings     `json:"timings,omitempty"`
}

// TextChoice is a choice of a text completion.
type TextChoice struct {
	Index        int             `json:"index"`
	Text         string          `json:"text"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// Model is an entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// NoStream (Runnel's, absent on models that stream) marks a model
	// that answers only whole responses, so that a chat UI can leave it
	// out of a streaming picker.
	NoStream bool `json:"no_stream,omitempty"`
}

// ModelList is the answer of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"` // "list"
	Data   []Model `json:"data"`
}

// ErrorResponse is OpenAI's error body.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of an error body. Param and Code are null when
// not applicable; upstreams sometimes send a number as code.
type ErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    any     `json:"code"`
}
