package client

import (
	"context"
	"encoding/json"
)

// StreamPredict streams the native token stream (/api/v1/inference/stream).
// params are passed as the request's "parameters" (max_tokens, temperature, …).
func (c *Client) StreamPredict(ctx context.Context, model string, messages []Message, params map[string]any) *Stream {
	body := map[string]any{"model": model, "messages": messages}
	if params != nil {
		body["parameters"] = params
	}
	return c.stream(ctx, "/api/v1/inference/stream", body, decodeNative)
}

type nativeEvent struct {
	Token        string          `json:"token"`
	Channel      string          `json:"channel"`
	Done         bool            `json:"done"`
	Provider     string          `json:"provider"`
	FinishReason string          `json:"finish_reason"`
	Usage        *nativeUsage    `json:"usage"`
	Error        json.RawMessage `json:"error"`
}

// nativeUsage accepts both the OpenAI and the typed-generation spelling.
type nativeUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	InputTokens      int `json:"input_tokens"`
	OutputTokens     int `json:"output_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (u *nativeUsage) usage() *Usage {
	if u == nil {
		return nil
	}
	out := &Usage{PromptTokens: max(u.PromptTokens, u.InputTokens), CompletionTokens: max(u.CompletionTokens, u.OutputTokens), TotalTokens: u.TotalTokens}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out
}

func decodeNative(s *Stream, data []byte) (ev Event, emit, done bool, err error) {
	var ne nativeEvent
	if err := json.Unmarshal(data, &ne); err != nil {
		return Event{}, false, false, &Error{Code: "bad_event", Message: "malformed event from server: " + err.Error(), MidStream: true}
	}
	if len(ne.Error) > 0 {
		return Event{}, false, false, midStreamError(data)
	}
	ev.Text, ev.Channel = ne.Token, "output"
	if ne.Channel != "" {
		ev.Channel = ne.Channel
	}
	if u := ne.Usage.usage(); u != nil {
		s.usage, ev.Usage = u, u
	}
	if ne.FinishReason != "" {
		s.finish, ev.FinishReason = ne.FinishReason, ne.FinishReason
	}
	return ev, ev.Text != "" || ev.Usage != nil, ne.Done, nil
}
