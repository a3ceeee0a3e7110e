package client

import (
	"context"
	"encoding/json"
)

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Name    string `json:"name,omitempty"`
}

// ChatRequest is a chat completion request. Zero values are left out, so
// the server's defaults apply.
type ChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	TopP        *float64  `json:"top_p,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
}

// CompletionRequest is a raw-prompt completion request (/v1/completions).
type CompletionRequest struct {
	Model       string   `json:"model"`
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// StreamChat streams a chat completion through the OpenAI-compatible API.
// Nothing is sent until the stream's Events are read.
func (c *Client) StreamChat(ctx context.Context, req ChatRequest) *Stream {
	body := struct {
		ChatRequest
		Stream        bool          `json:"stream"`
		StreamOptions streamOptions `json:"stream_options"`
	}{req, true, streamOptions{true}}
	return c.openAIStream(ctx, "/v1/chat/completions", body)
}

// StreamCompletion streams a raw-prompt completion.
func (c *Client) StreamCompletion(ctx context.Context, req CompletionRequest) *Stream {
	body := struct {
		CompletionRequest
		Stream        bool          `json:"stream"`
		StreamOptions streamOptions `json:"stream_options"`
	}{req, true, streamOptions{true}}
	return c.openAIStream(ctx, "/v1/completions", body)
}

func (c *Client) openAIStream(ctx context.Context, path string, body any) *Stream {
	return c.stream(ctx, path, body, decodeOpenAI)
}

// ChatResponse is a non-streamed chat completion.
type ChatResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role             string `json:"role"`
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content,omitempty"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage Usage `json:"usage"`
}

// Text returns the first choice's content.
func (r *ChatResponse) Text() string {
	if len(r.Choices) == 0 {
		return ""
	}
	return r.Choices[0].Message.Content
}

// Chat runs a chat completion without streaming.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	var out ChatResponse
	if err := c.postJSON(ctx, "/v1/chat/completions", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Model is an entry of the server's model list.
type Model struct {
	ID      string `json:"id"`
	OwnedBy string `json:"owned_by"`
	Created int64  `json:"created"`
}

// Models lists the models the server can serve.
func (c *Client) Models(ctx context.Context) ([]Model, error) {
	var out struct {
		Data []Model `json:"data"`
	}
	if err := c.getJSON(ctx, "/v1/models", &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

type openAIChunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
			ToolCalls        []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		Text         string  `json:"text"` // legacy completions
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func decodeOpenAI(s *Stream, data []byte) (ev Event, emit, done bool, err error) {
	if string(data) == "[DONE]" {
		return Event{}, false, true, nil
	}
	var ch openAIChunk
	if err := json.Unmarshal(data, &ch); err != nil {
		return Event{}, false, false, &Error{Code: "bad_event", Message: "malformed event from server: " + err.Error(), MidStream: true}
	}
	if len(ch.Error) > 0 {
		return Event{}, false, false, midStreamError(data)
	}
	if ch.Usage != nil {
		s.usage = ch.Usage
		ev.Usage, emit = ch.Usage, true
	}
	if len(ch.Choices) > 0 {
		c := ch.Choices[0]
		switch {
		case c.Delta.ReasoningContent != "":
			ev.Text, ev.Channel = c.Delta.ReasoningContent, "thinking"
		case c.Delta.Content != "":
			ev.Text, ev.Channel = c.Delta.Content, "output"
		case c.Text != "":
			ev.Text, ev.Channel = c.Text, "output"
		}
		for _, tc := range c.Delta.ToolCalls {
			ev.ToolCalls = append(ev.ToolCalls, ToolCallDelta{Index: tc.Index, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			s.finish, ev.FinishReason = *c.FinishReason, *c.FinishReason
		}
		emit = emit || ev.Text != "" || len(ev.ToolCalls) > 0 || ev.FinishReason != ""
	}
	return ev, emit, false, nil
}
