package client

import (
	"context"
	"encoding/json"
	"strings"
)

// Input is one named input of a typed generation request.
type Input struct {
	Type    string `json:"type"` // "text"
	Name    string `json:"name"` // "input"
	Content string `json:"content"`
}

// GenerateRequest is a typed multi-output generation request
// (/api/v1/generate and /api/v1/generate/stream).
type GenerateRequest struct {
	ServiceName string         `json:"service_name,omitempty"` // provider or deployment
	ModelName   string         `json:"model_name"`
	Input       []Input        `json:"input"`
	Parameters  map[string]any `json:"parameters,omitempty"` // max_tokens, temperature, enable_thinking, …
	History     []Message      `json:"history,omitempty"`
}

// Prompt returns a request whose single input is text.
func Prompt(service, model, text string) GenerateRequest {
	return GenerateRequest{ServiceName: service, ModelName: model, Input: []Input{{Type: "text", Name: "input", Content: text}}}
}

// GenerateChunk is a content event of a typed generation stream.
type GenerateChunk struct {
	Type    string `json:"type"`
	Name    string `json:"name"`           // "output" or "thinking"
	Code    string `json:"code,omitempty"` // an error item's code
	Content string `json:"content"`
	Done    bool   `json:"done"`
	Index   int    `json:"index"`
	IsFinal bool   `json:"is_final"`
}

// GenerateFinal is the last event of a typed generation: usage, cost and
// warnings (rate-limit warnings among them).
type GenerateFinal struct {
	Final bool `json:"final"`
	Usage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
	Cost struct {
		Input  float64 `json:"input"`
		Output float64 `json:"output"`
		Total  float64 `json:"total"`
	} `json:"cost"`
	Warnings     []string `json:"warnings"`
	FinishReason string   `json:"finish_reason,omitempty"`
}

// GenerateHandlers receive a typed generation stream's events as they
// arrive. Any of them may be nil.
type GenerateHandlers struct {
	OnChunk    func(GenerateChunk) // output chunks
	OnThinking func(GenerateChunk) // thinking chunks
	OnComplete func(GenerateFinal) // once, at the end
}

// GenerateResult is a finished typed generation.
type GenerateResult struct {
	Output   string
	Thinking string
	Final    GenerateFinal
	Metrics  Metrics
}

// GenerateStream runs a typed generation stream to its end, calling h as
// events arrive.
func (c *Client) GenerateStream(ctx context.Context, req GenerateRequest, h GenerateHandlers) (*GenerateResult, error) {
	var res GenerateResult
	var out, thought strings.Builder
	decode := func(s *Stream, data []byte) (Event, bool, bool, error) {
		var probe struct {
			Final bool            `json:"final"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &probe); err != nil {
			return Event{}, false, false, &Error{Code: "bad_event", Message: "malformed event from server: " + err.Error(), MidStream: true}
		}
		if len(probe.Error) > 0 {
			return Event{}, false, false, midStreamError(data)
		}
		if probe.Final {
			if err := json.Unmarshal(data, &res.Final); err != nil {
				return Event{}, false, false, &Error{Code: "bad_event", Message: err.Error(), MidStream: true}
			}
			u := res.Final.Usage
			s.usage = &Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
			s.finish = res.Final.FinishReason
			if h.OnComplete != nil {
				h.OnComplete(res.Final)
			}
			return Event{Usage: s.usage}, true, true, nil
		}
		var ch GenerateChunk
		if err := json.Unmarshal(data, &ch); err != nil {
			return Event{}, false, false, &Error{Code: "bad_event", Message: err.Error(), MidStream: true}
		}
		if ch.Type == "error" {
			// The typed stream's error item: never output text, never a
			// clean end.
			return Event{}, false, false, &Error{Code: ch.Code, Message: ch.Content, MidStream: true}
		}
		if ch.Content == "" {
			return Event{}, false, false, nil
		}
		channel := "output"
		if ch.Name == "thinking" {
			channel = "thinking"
			thought.WriteString(ch.Content)
			if h.OnThinking != nil {
				h.OnThinking(ch)
			}
		} else {
			out.WriteString(ch.Content)
			if h.OnChunk != nil {
				h.OnChunk(ch)
			}
		}
		return Event{Text: ch.Content, Channel: channel}, true, false, nil
	}
	s := c.stream(ctx, "/api/v1/generate/stream", req, decode)
	for _, err := range s.Events() {
		if err != nil {
			res.Output, res.Thinking, res.Metrics = out.String(), thought.String(), s.Metrics()
			return &res, err
		}
	}
	res.Output, res.Thinking, res.Metrics = out.String(), thought.String(), s.Metrics()
	return &res, nil
}

// Generate runs a typed generation without streaming and returns the
// server's answer as raw JSON fields.
func (c *Client) Generate(ctx context.Context, req GenerateRequest) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	if err := c.postJSON(ctx, "/api/v1/generate", req, &out); err != nil {
		return nil, err
	}
	return out, nil
}
