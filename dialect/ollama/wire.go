// Package ollama speaks Ollama's API on both sides: a server for /api/chat,
// /api/generate, /api/tags, /api/version and /api/show, so Ollama's own
// clients can use Runnel as is, and an upstream Provider for a real Ollama.
//
// The stream is NDJSON: one JSON object per line, the last with done: true
// and Ollama's counts and durations (nanoseconds).
package ollama

import (
	"encoding/json"
	"errors"
	"time"
)

// ChatRequest is the body of POST /api/chat.
type ChatRequest struct {
	Model     string          `json:"model"`
	Messages  []Message       `json:"messages"`
	Tools     []Tool          `json:"tools,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"`
	Options   *ModelOptions   `json:"options,omitempty"`
	Stream    *bool           `json:"stream,omitempty"`
	Think     *Think          `json:"think,omitempty"`
	KeepAlive json.RawMessage `json:"keep_alive,omitempty"`
}

// GenerateRequest is the body of POST /api/generate.
type GenerateRequest struct {
	Model     string          `json:"model"`
	Prompt    string          `json:"prompt"`
	Suffix    string          `json:"suffix,omitempty"`
	System    string          `json:"system,omitempty"`
	Template  string          `json:"template,omitempty"`
	Context   []int           `json:"context,omitempty"`
	Raw       bool            `json:"raw,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"`
	Images    []string        `json:"images,omitempty"`
	Options   *ModelOptions   `json:"options,omitempty"`
	Stream    *bool           `json:"stream,omitempty"`
	Think     *Think          `json:"think,omitempty"`
	KeepAlive json.RawMessage `json:"keep_alive,omitempty"`
}

// Think is Ollama's think flag: a boolean, or an effort level ("low",
// "medium", "high") which also turns thinking on.
type Think struct {
	On    bool
	Level string
}

// MarshalJSON implements json.Marshaler.
func (t Think) MarshalJSON() ([]byte, error) {
	if t.Level != "" {
		return json.Marshal(t.Level)
	}
	return json.Marshal(t.On)
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Think) UnmarshalJSON(b []byte) error {
	*t = Think{}
	if err := json.Unmarshal(b, &t.On); err == nil {
		return nil
	}
	if err := json.Unmarshal(b, &t.Level); err == nil {
		switch t.Level {
		case "low", "medium", "high":
			t.On = true
			return nil
		}
	}
	return errors.New(`think must be true, false, "low", "medium" or "high"`)
}

// Message is one chat turn.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Thinking   string     `json:"thinking,omitempty"`
	Images     []string   `json:"images,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolName   string     `json:"tool_name,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is a complete call: Ollama never streams arguments in pieces.
type ToolCall struct {
	ID       string       `json:"id,omitempty"`
	Function ToolFunction `json:"function"`
}

// ToolFunction names the function and carries its arguments as an object.
type ToolFunction struct {
	Index     int             `json:"index,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Tool is a function the model may call.
type Tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

// ModelOptions are the generation options Runnel maps; Ollama's other options
// (num_ctx, mirostat, …) are accepted and ignored.
type ModelOptions struct {
	NumPredict    *int     `json:"num_predict,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopK          *int     `json:"top_k,omitempty"`
	TopP          *float64 `json:"top_p,omitempty"`
	MinP          *float64 `json:"min_p,omitempty"`
	RepeatPenalty *float64 `json:"repeat_penalty,omitempty"`
	Seed          *int64   `json:"seed,omitempty"`
	Stop          []string `json:"stop,omitempty"`
	// BufferSize and TimeoutMs are Runnel's extensions (seed 003's
	// StreamConfig): this stream's buffer in events and its time limit,
	// within the server's (see dialect.StreamLimits). Never sent upstream.
	BufferSize *int   `json:"buffer_size,omitempty"`
	TimeoutMs  *int64 `json:"timeout_ms,omitempty"`
}

// Chunk is one NDJSON line of a /api/chat or /api/generate response; Message
// is set by chat, Response/Thinking by generate.
type Chunk struct {
	Model     string   `json:"model"`
	CreatedAt string   `json:"created_at"`
	Message   *Message `json:"message,omitempty"`
	Response  *string  `json:"response,omitempty"`
	Thinking  string   `json:"thinking,omitempty"`
	Done      bool     `json:"done"`
	Metrics
	Error string `json:"error,omitempty"`
}

// Metrics are the final object's counts and durations in nanoseconds.
type Metrics struct {
	DoneReason         string `json:"done_reason,omitempty"`
	TotalDuration      int64  `json:"total_duration,omitempty"`
	LoadDuration       int64  `json:"load_duration,omitempty"`
	PromptEvalCount    int    `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64  `json:"prompt_eval_duration,omitempty"`
	EvalCount          int    `json:"eval_count,omitempty"`
	EvalDuration       int64  `json:"eval_duration,omitempty"`
}

// ErrorResponse is Ollama's error shape, as a status body or an NDJSON line.
type ErrorResponse struct {
	Error string `json:"error"`
}

// ListResponse is the body of GET /api/tags.
type ListResponse struct {
	Models []ListModel `json:"models"`
}

// ListModel is one model of /api/tags.
type ListModel struct {
	Name       string       `json:"name"`
	Model      string       `json:"model"`
	ModifiedAt time.Time    `json:"modified_at"`
	Size       int64        `json:"size"`
	Digest     string       `json:"digest"`
	Details    ModelDetails `json:"details"`
}

// ModelDetails describes a model's format and family.
type ModelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// ShowRequest is the body of POST /api/show.
type ShowRequest struct {
	Model   string `json:"model"`
	Name    string `json:"name,omitempty"` // older clients
	Verbose bool   `json:"verbose,omitempty"`
}

// ShowResponse is the body of a /api/show answer.
type ShowResponse struct {
	Modelfile    string         `json:"modelfile"`
	Parameters   string         `json:"parameters"`
	Template     string         `json:"template"`
	Details      ModelDetails   `json:"details"`
	ModelInfo    map[string]any `json:"model_info"`
	Capabilities []string       `json:"capabilities"`
	ModifiedAt   time.Time      `json:"modified_at"`
}

// VersionResponse is the body of GET /api/version.
type VersionResponse struct {
	Version string `json:"version"`
}
