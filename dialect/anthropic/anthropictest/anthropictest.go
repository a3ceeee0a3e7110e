// Package anthropictest is a fake Anthropic Messages API for tests of the
// Anthropic upstream: POST /v1/messages (streamed as Anthropic streams, or
// whole) and POST /v1/messages/count_tokens, checked as the API checks
// them (headers, max_tokens, a final assistant message without trailing
// white space and without thinking, no unknown fields in a count), by a
// model that writes deterministically from its context
// (dialecttest.NextToken): a continuation given the text so far, exactly,
// writes what an uninterrupted answer writes, and one given a lost or
// repeated piece writes something else. Tokens are the mock's (mock.Count)
// over the rendered prompt, so counts can be checked exactly.
package anthropictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/mock"
)

// Server is the fake API. Its zero value writes answers of DefaultLength
// tokens, one token per delta, at full speed, and counts tokens.
type Server struct {
	// Length is the answer's length in tokens, where the model stops
	// (DefaultLength if 0).
	Length int
	// Chunk is how many tokens a text delta carries (1 if 0), as the API
	// sends a few at a time.
	Chunk int
	// ITL is the delay before each delta.
	ITL time.Duration
	// CountExtra is added to every count_tokens answer and not to the
	// billed input_tokens: Anthropic's counts may include tokens the
	// system adds and does not bill.
	CountExtra int
	// NoCount answers count_tokens with a 404, as a proxy that lacks it.
	NoCount bool
	// APIKey, when set, is the x-api-key every request must carry.
	APIKey string
	// NoPrefill refuses a final assistant message in /v1/messages, as
	// Claude Opus 4.6 and later do (count_tokens still counts it).
	NoPrefill bool

	dialecttest.Recorder // the requests served, in order
}

// DefaultLength is the answer's length in tokens if Server.Length is 0.
const DefaultLength = 40

// Tokens is the tokens of a rendered prompt, as billed (input_tokens).
func Tokens(prompt string) int { return mock.Count(prompt) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "There was an issue with the request body: "+err.Error())
		return
	}
	var body map[string]any
	json.Unmarshal(raw, &body)
	s.Record(r.URL.Path, body)
	switch {
	case s.APIKey != "" && r.Header.Get("X-Api-Key") != s.APIKey:
		apiError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	case r.Header.Get("Anthropic-Version") == "":
		apiError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	switch r.URL.Path {
	case "/v1/messages":
		var req anthropic.MessagesRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			apiError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
			return
		}
		if req.MaxTokens == nil || *req.MaxTokens < 1 {
			apiError(w, http.StatusBadRequest, "invalid_request_error", "max_tokens: Field required")
			return
		}
		if msg := check(req.Messages, req.Thinking); msg != "" {
			apiError(w, http.StatusBadRequest, "invalid_request_error", msg)
			return
		}
		if s.NoPrefill && req.Messages[len(req.Messages)-1].Role == "assistant" {
			apiError(w, http.StatusBadRequest, "invalid_request_error", "This model does not support assistant message prefill. The conversation must end with a user message.")
			return
		}
		s.generate(w, r, req)
	case "/v1/messages/count_tokens":
		if s.NoCount {
			apiError(w, http.StatusNotFound, "not_found_error", "Not Found")
			return
		}
		var req anthropic.CountTokensRequest
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields() // the API refuses max_tokens, stream, sampling fields here
		if err := d.Decode(&req); err != nil {
			apiError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
			return
		}
		if msg := check(req.Messages, req.Thinking); msg != "" {
			apiError(w, http.StatusBadRequest, "invalid_request_error", msg)
			return
		}
		dialecttest.WriteJSON(w, http.StatusOK, map[string]int{"input_tokens": Tokens(render(req.System, req.Messages)) + s.CountExtra})
	default:
		apiError(w, http.StatusNotFound, "not_found_error", "Not Found")
	}
}

// check is what the API refuses in messages, as a message ("" if none).
func check(msgs []anthropic.Message, thinking *anthropic.ThinkingConfig) string {
	if len(msgs) == 0 {
		return "messages: at least one message is required"
	}
	for _, m := range msgs {
		for _, b := range m.Content.Blocks {
			if b.Type == "text" && b.Text == "" {
				return "messages: text content blocks must be non-empty"
			}
		}
	}
	last := msgs[len(msgs)-1]
	if last.Role != "assistant" {
		return ""
	}
	if b := last.Content.Blocks; len(b) > 0 && b[len(b)-1].Type == "text" {
		if t := b[len(b)-1].Text; strings.TrimRightFunc(t, unicode.IsSpace) != t {
			return "messages: final assistant content cannot end with trailing whitespace"
		}
	}
	if thinking != nil && thinking.Type == "enabled" {
		return "thinking: a final assistant message cannot be prefilled with thinking enabled"
	}
	return ""
}

// render is the prompt the model reads: "<|role|>content<|end|>" per turn
// (the system first), then "<|assistant|>" for the answer; a final
// assistant message is left open: its content is the answer begun.
func render(system *anthropic.Content, msgs []anthropic.Message) string {
	var b strings.Builder
	if system != nil {
		b.WriteString("<|system|>" + text(system.Blocks) + "<|end|>")
	}
	for i, m := range msgs {
		b.WriteString("<|" + m.Role + "|>" + text(m.Content.Blocks))
		if i == len(msgs)-1 && m.Role == "assistant" {
			return b.String()
		}
		b.WriteString("<|end|>")
	}
	b.WriteString("<|assistant|>")
	return b.String()
}

// text is blocks as the model reads them.
func text(blocks []anthropic.Block) string {
	var b strings.Builder
	for _, bl := range blocks {
		switch bl.Type {
		case "text":
			b.WriteString(bl.Text)
		case "tool_use":
			b.WriteString("<|tool_use " + bl.Name + "|>" + string(bl.Input))
		case "tool_result":
			if bl.Content != nil {
				b.WriteString("<|tool_result|>" + text(bl.Content.Blocks))
			}
		}
	}
	return b.String()
}

// generate writes the answer: token by token until the answer (after the
// last "<|assistant|>", the part begun included) has Length tokens
// (end_turn) or max_tokens new ones (max_tokens). input_tokens is the
// rendered prompt's tokens, output_tokens the new ones.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, req anthropic.MessagesRequest) {
	length, chunk := s.Length, s.Chunk
	if length == 0 {
		length = DefaultLength
	}
	if chunk <= 0 {
		chunk = 1
	}
	prompt := render(req.System, req.Messages)
	var toks []string
	context, reason := prompt, "end_turn"
	for {
		a := context[strings.LastIndex(context, "<|assistant|>")+len("<|assistant|>"):]
		if mock.Count(a) >= length {
			break
		}
		if len(toks) == *req.MaxTokens {
			reason = "max_tokens"
			break
		}
		tok := dialecttest.NextToken(context, strings.TrimSpace(a) == "")
		context += tok
		toks = append(toks, tok)
	}
	usage := anthropic.Usage{InputTokens: Tokens(prompt), OutputTokens: len(toks)}
	msg := anthropic.MessageResponse{ID: "msg_fake", Type: "message", Role: "assistant", Model: req.Model, Usage: usage}
	if !req.Stream {
		msg.StopReason = &reason
		msg.Content = []anthropic.Block{{Type: "text", Text: strings.Join(toks, "")}}
		dialecttest.WriteJSON(w, http.StatusOK, msg)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	msg.Content, msg.Usage.OutputTokens = []anthropic.Block{}, 1
	event(w, "message_start", map[string]any{"type": "message_start", "message": msg})
	event(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]string{"type": "text", "text": ""}})
	event(w, "ping", map[string]string{"type": "ping"})
	for i := 0; i < len(toks); i += chunk {
		if s.ITL > 0 {
			select {
			case <-time.After(s.ITL):
			case <-r.Context().Done():
				return
			}
		}
		d := strings.Join(toks[i:min(i+chunk, len(toks))], "")
		if err := event(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "text_delta", "text": d}}); err != nil {
			return
		}
	}
	event(w, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event(w, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": reason, "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": len(toks)}})
	event(w, "message_stop", map[string]string{"type": "message_stop"})
}

// event writes one named SSE event and flushes it.
func event(w http.ResponseWriter, name string, data any) error {
	b, _ := json.Marshal(data)
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	w.(http.Flusher).Flush()
	return nil
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	dialecttest.WriteJSON(w, status, anthropic.ErrorResponse{Type: "error", Error: anthropic.ErrorDetail{Type: typ, Message: msg}})
}
