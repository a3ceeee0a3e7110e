// Package anthropic speaks Anthropic's Messages API on both sides: a server
// for POST /v1/messages (streamed as Anthropic's named SSE events, or whole),
// so Anthropic's SDKs can use Runnel, and an upstream Provider that streams
// from Anthropic (or anything speaking its API).
package anthropic

import (
	"encoding/json"
	"errors"

	"github.com/runnel/runnel/dialect"
)

// MessagesRequest is the body of POST /v1/messages.
type MessagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	Messages      []Message       `json:"messages"`
	System        *Content        `json:"system,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Thinking      *ThinkingConfig `json:"thinking,omitempty"`
	Metadata      *struct {
		UserID string `json:"user_id,omitempty"`
	} `json:"metadata,omitempty"`
	// BufferSize and TimeoutMs are Runnel's extensions (seed 003's
	// StreamConfig): this stream's buffer in events and its time limit,
	// within the server's (see dialect.StreamLimits). Never sent upstream.
	BufferSize *int   `json:"buffer_size,omitempty"`
	TimeoutMs  *int64 `json:"timeout_ms,omitempty"`
}

// Message is one turn; Content is a string or a list of blocks.
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Content is a string or an array of content blocks. A string decodes as
// one text block and is sent back as a string.
type Content struct {
	Blocks []Block
	text   *string
}

// TextContent returns content given as a plain string.
func TextContent(s string) Content { return Content{text: &s} }

// UnmarshalJSON implements json.Unmarshaler. A string and a list of
// blocks with text fields only (a request's usual content) are read
// here; other lists are decoded by encoding/json, a second pass over b.
func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{}
	if len(b) == 0 || b[0] != '"' && b[0] != '[' {
		return errors.New("content must be a string or an array of content blocks")
	}
	if c.lite(string(b)) {
		return nil
	}
	*c = Content{}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		c.text = &s
		c.Blocks = []Block{{Type: "text", Text: s}}
		return nil
	}
	return json.Unmarshal(b, &c.Blocks)
}

// lite reads s, a string or a list of blocks whose only fields are type
// and text, as encoding/json would, or returns false.
func (c *Content) lite(s string) bool {
	p := dialect.EventScanner{S: s}
	if s[0] == '"' {
		t, ok := p.Str()
		c.text = &t
		c.Blocks = []Block{{Type: "text", Text: t}}
		return ok && p.I == len(s)
	}
	p.I++
	c.Blocks = []Block{}
	if !p.Eat(']') {
		for {
			var b Block
			if !p.Object(func(key string) bool {
				switch key {
				case "type":
					return strField(&p, &b.Type)
				case "text":
					return strField(&p, &b.Text)
				}
				return !dialect.MatchesAny(key, blockNames...) && p.Skip()
			}) {
				return false
			}
			c.Blocks = append(c.Blocks, b)
			if !p.Eat(',') {
				break
			}
			p.WS()
		}
		if !p.Eat(']') {
			return false
		}
	}
	p.WS()
	return p.I == len(s)
}

// strField parses a string field's value into dst: null leaves it, as
// with encoding/json.
func strField(p *dialect.EventScanner, dst *string) bool {
	if p.Null() {
		return true
	}
	s, ok := p.Str()
	*dst = s
	return ok
}

// MarshalJSON implements json.Marshaler.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.text != nil {
		return json.Marshal(*c.text)
	}
	if c.Blocks == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(c.Blocks)
}

// Block is a content block: text, thinking, redacted_thinking, tool_use,
// tool_result or image (which Runnel rejects).
type Block struct {
	Type string `json:"type"`
	// text
	Text string `json:"text,omitempty"`
	// thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string   `json:"tool_use_id,omitempty"`
	Content   *Content `json:"content,omitempty"`
	IsError   bool     `json:"is_error,omitempty"`
}

// Tool is a function the model may call.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// ToolChoice says how the model must use tools.
type ToolChoice struct {
	Type string `json:"type"` // auto, any, tool, none
	Name string `json:"name,omitempty"`
}

// ThinkingConfig turns extended thinking on ("enabled") or off.
type ThinkingConfig struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// MessageResponse is a whole message: the non-streamed answer, and the
// message of a message_start event.
type MessageResponse struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage counts tokens.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens,omitempty"`
}

// StreamEvent is the data of any streamed event, for decoding.
type StreamEvent struct {
	Type         string           `json:"type"`
	Message      *MessageResponse `json:"message,omitempty"`
	Index        int              `json:"index"`
	ContentBlock *Block           `json:"content_block,omitempty"`
	Delta        *Delta           `json:"delta,omitempty"`
	Usage        *Usage           `json:"usage,omitempty"`
	Error        *ErrorDetail     `json:"error,omitempty"`
}

// Delta is a content_block_delta's or message_delta's delta.
type Delta struct {
	Type         string  `json:"type,omitempty"`
	Text         string  `json:"text,omitempty"`
	Thinking     string  `json:"thinking,omitempty"`
	Signature    string  `json:"signature,omitempty"`
	PartialJSON  string  `json:"partial_json,omitempty"`
	StopReason   string  `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// ErrorResponse is Anthropic's error body, also the data of an error event.
type ErrorResponse struct {
	Type  string      `json:"type"` // "error"
	Error ErrorDetail `json:"error"`
}

// ErrorDetail names the error type and says what went wrong.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// CountTokensRequest is the body of POST /v1/messages/count_tokens: a
// MessagesRequest's input (the API refuses its sampling and output
// fields there).
type CountTokensRequest struct {
	Model      string          `json:"model"`
	Messages   []Message       `json:"messages"`
	System     *Content        `json:"system,omitempty"`
	Tools      []Tool          `json:"tools,omitempty"`
	ToolChoice *ToolChoice     `json:"tool_choice,omitempty"`
	Thinking   *ThinkingConfig `json:"thinking,omitempty"`
}

// CountTokensResponse is the answer of POST /v1/messages/count_tokens.
type CountTokensResponse struct {
	InputTokens *int `json:"input_tokens"`
}
