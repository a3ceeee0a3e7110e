// Package ollamatest is a fake Ollama server for tests of the Ollama
// upstream: /api/chat and /api/generate answered as a real Ollama answers
// them (see dialect/ollama/continue.go for what that is), by a model that
// writes deterministically from its context (dialecttest.NextToken): a
// continuation given the text so far, exactly, writes what an
// uninterrupted answer writes, and one given a lost or repeated piece
// writes something else.
package ollamatest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/mock"
)

// Server is the fake Ollama. Its zero value continues a final assistant
// message and writes answers of DefaultLength tokens at full speed.
type Server struct {
	// Closing makes the template end every message, a final assistant
	// one too, and open a new assistant turn, as Ollama's
	// template/llama3-instruct.gotmpl does: such a model starts a second
	// answer rather than continue one.
	Closing bool
	// Old answers as an Ollama before v0.11.5: _debug_render_only is an
	// unknown field, and the chat is run.
	Old bool
	// Length is the answer's length in tokens, where the model stops
	// (DefaultLength if 0).
	Length int
	// ITL is the delay before each streamed token.
	ITL time.Duration

	dialecttest.Recorder // the requests served, in order
}

// DefaultLength is the answer's length in tokens if Server.Length is 0.
const DefaultLength = 40

// request is the fields of /api/chat and /api/generate the fake reads.
type request struct {
	Model    string               `json:"model"`
	Messages []ollama.Message     `json:"messages"`
	Prompt   string               `json:"prompt"`
	Raw      bool                 `json:"raw"`
	Stream   *bool                `json:"stream"`
	Options  *ollama.ModelOptions `json:"options"`
	Debug    bool                 `json:"_debug_render_only"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	var req request
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil || json.Unmarshal(raw, &req) != nil {
		httpError(w, http.StatusBadRequest, "invalid request body")
		return
	}
	var body map[string]any
	json.Unmarshal(raw, &body)
	s.Record(r.URL.Path, body)
	if req.Model == "" {
		httpError(w, http.StatusBadRequest, "model is required")
		return
	}
	var prompt string
	chat := r.URL.Path == "/api/chat"
	switch {
	case chat && len(req.Messages) > 0:
		prompt = s.render(req.Messages)
	case r.URL.Path == "/api/generate" && req.Raw:
		prompt = req.Prompt
	case r.URL.Path == "/api/generate":
		prompt = s.render([]ollama.Message{{Role: "user", Content: req.Prompt}})
	default:
		httpError(w, http.StatusNotFound, "404 page not found")
		return
	}
	if chat && req.Debug && !s.Old {
		dialecttest.WriteJSON(w, http.StatusOK, map[string]any{"model": req.Model, "created_at": now(), "message": map[string]string{"role": "", "content": ""},
			"done": false, "_debug_info": map[string]any{"rendered_template": prompt, "image_count": 0}})
		return
	}
	s.generate(w, r, req, chat, prompt)
}

// render is the model's template: "<|role|>content<|end|>" per message,
// then "<|assistant|>" for the answer; a final assistant message is left
// open (its content is the answer begun) unless Closing.
func (s *Server) render(msgs []ollama.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		b.WriteString("<|" + m.Role + "|>" + m.Content)
		if i == len(msgs)-1 && m.Role == "assistant" && !s.Closing {
			return b.String()
		}
		b.WriteString("<|end|>")
	}
	b.WriteString("<|assistant|>")
	return b.String()
}

// Tokens counts text's tokens as the fake's tokenizer does (the mock's
// word-ish tokens), with the BOS token a prompt begins with.
func Tokens(prompt string) int { return 1 + mock.Count(prompt) }

// answer is the answer so far in a context: what follows the last
// assistant turn (all of it for a raw prompt without one).
func answer(context string) string {
	if i := strings.LastIndex(context, "<|assistant|>"); i >= 0 {
		return context[i+len("<|assistant|>"):]
	}
	return context
}

// generate writes the answer to prompt: token by token, each line as
// Ollama's stream has it, until the answer has Length tokens (done_reason
// stop) or num_predict new ones (length); or all at once if not streamed.
// prompt_eval_count is the whole prompt's tokens, eval_count the new
// tokens'.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, req request, chat bool, prompt string) {
	length := s.Length
	if length == 0 {
		length = DefaultLength
	}
	limit := -1
	if req.Options != nil && req.Options.NumPredict != nil && *req.Options.NumPredict > 0 {
		limit = *req.Options.NumPredict
	}
	streamed := req.Stream == nil || *req.Stream
	line := func(text string) map[string]any {
		m := map[string]any{"model": req.Model, "created_at": now(), "done": false}
		if chat {
			m["message"] = map[string]string{"role": "assistant", "content": text}
		} else {
			m["response"] = text
		}
		return m
	}
	if streamed {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	start := time.Now()
	context, all, n, reason := prompt, "", 0, "stop"
	for {
		a := answer(context)
		if mock.Count(a) >= length {
			break
		}
		if n == limit {
			reason = "length"
			break
		}
		if streamed && s.ITL > 0 {
			select {
			case <-time.After(s.ITL):
			case <-r.Context().Done():
				return
			}
		}
		tok := dialecttest.NextToken(context, strings.TrimSpace(a) == "")
		context += tok
		all += tok
		n++
		if streamed {
			if err := writeLine(w, line(tok)); err != nil {
				return
			}
		}
	}
	final := line("")
	if !streamed {
		final = line(all)
	}
	final["done"] = true
	final["done_reason"] = reason
	final["total_duration"] = time.Since(start).Nanoseconds()
	final["prompt_eval_count"] = Tokens(prompt)
	final["prompt_eval_duration"] = 1000
	final["eval_count"] = n
	final["eval_duration"] = 1000 * n
	if streamed {
		writeLine(w, final)
		return
	}
	dialecttest.WriteJSON(w, http.StatusOK, final)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func writeLine(w http.ResponseWriter, v any) error {
	b, _ := json.Marshal(v)
	if _, err := w.Write(append(b, '\n')); err != nil {
		return err
	}
	w.(http.Flusher).Flush()
	return nil
}

func httpError(w http.ResponseWriter, status int, msg string) {
	dialecttest.WriteJSON(w, status, map[string]string{"error": msg})
}
