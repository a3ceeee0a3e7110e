package ollama

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// DefaultVersion is what /api/version reports: the Ollama API version whose
// behaviour the server follows, so clients that gate features on it (think,
// tools) enable them.
const DefaultVersion = "0.12.6"

// Options configure a Server.
type Options struct {
	// BodyLimit bounds request bodies (dialect.DefaultBodyLimit if 0).
	BodyLimit int64
	// Version reported by /api/version (DefaultVersion if empty).
	Version string
	// Authorize, when set, checks the caller of the routes that make no
	// call (the model list and details) and so are not admitted by the gateway: an
	// error is answered with a 401. nil lets every caller through.
	Authorize func(ctx context.Context) error
}

// Server serves Ollama's API on top of a gateway.
type Server struct {
	gw   dialect.Gateway
	opts Options
}

// NewServer returns a Server calling gw.
func NewServer(gw dialect.Gateway, opts Options) *Server {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	return &Server{gw: gw, opts: opts}
}

// Register adds Ollama's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/chat", s.chat)
	mux.HandleFunc("POST /api/generate", s.generate)
	mux.HandleFunc("GET /api/tags", s.tags)
	mux.HandleFunc("GET /api/version", s.version)
	mux.HandleFunc("POST /api/show", s.show)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var body ChatRequest
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, &body); err != nil {
		writeError(w, err)
		return
	}
	req, err := body.toRequest()
	if err != nil {
		writeError(w, err)
		return
	}
	if len(body.Messages) == 0 {
		// Ollama answers an empty chat by loading the model; clients use it
		// to preload.
		writeLoaded(w, body.Model, true)
		return
	}
	s.serve(w, r, req, body.Model, body.Stream == nil || *body.Stream, true)
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	var body GenerateRequest
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, &body); err != nil {
		writeError(w, err)
		return
	}
	req, err := body.toRequest()
	if err != nil {
		writeError(w, err)
		return
	}
	if body.Prompt == "" && body.System == "" {
		writeLoaded(w, body.Model, false)
		return
	}
	s.serve(w, r, req, body.Model, body.Stream == nil || *body.Stream, false)
}

// toRequest validates a chat body and converts it.
func (b *ChatRequest) toRequest() (*stream.Request, *stream.Error) {
	if b.Model == "" {
		return nil, stream.InvalidParam("model", "model is required")
	}
	req := &stream.Request{Model: b.Model, Messages: make([]stream.Message, 0, len(b.Messages))}
	for i, m := range b.Messages {
		switch m.Role {
		case stream.RoleSystem, stream.RoleUser, stream.RoleAssistant, stream.RoleTool:
		case "":
			return nil, stream.InvalidParam("messages", "messages[%d].role is required", i)
		default:
			return nil, stream.InvalidParam("messages", "messages[%d].role %q must be system, user, assistant or tool", i, m.Role)
		}
		if len(m.Images) > 0 {
			return nil, stream.InvalidParam("messages", "messages[%d].images: images are not supported", i)
		}
		sm := stream.Message{Role: m.Role, Content: m.Content, Thinking: m.Thinking, Name: m.ToolName, ToolCallID: m.ToolCallID}
		for j, tc := range m.ToolCalls {
			if tc.Function.Name == "" {
				return nil, stream.InvalidParam("messages", "messages[%d].tool_calls[%d].function.name is required", i, j)
			}
			args := string(tc.Function.Arguments)
			if args == "" || args == "null" {
				args = "{}"
			}
			sm.ToolCalls = append(sm.ToolCalls, stream.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
		}
		req.Messages = append(req.Messages, sm)
	}
	for i, t := range b.Tools {
		if t.Type != "" && t.Type != "function" {
			return nil, stream.InvalidParam("tools", "tools[%d].type %q must be function", i, t.Type)
		}
		if t.Function.Name == "" {
			return nil, stream.InvalidParam("tools", "tools[%d].function.name is required", i)
		}
		req.Tools = append(req.Tools, stream.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	if err := b.Options.apply(req); err != nil {
		return nil, err
	}
	f, err := parseFormat(b.Format)
	if err != nil {
		return nil, err
	}
	req.ResponseFormat = f
	req.Thinking = b.Think != nil && b.Think.On
	return req, nil
}

// toRequest validates a generate body and converts it. The prompt becomes a
// user turn (Ollama applies the model's chat template) unless raw is set.
func (b *GenerateRequest) toRequest() (*stream.Request, *stream.Error) {
	if b.Model == "" {
		return nil, stream.InvalidParam("model", "model is required")
	}
	if len(b.Images) > 0 {
		return nil, stream.InvalidParam("images", "images are not supported")
	}
	if b.Suffix != "" {
		return nil, stream.InvalidParam("suffix", "suffix (fill-in-the-middle) is not supported")
	}
	req := &stream.Request{Model: b.Model}
	if b.Raw {
		req.Prompt, req.RawPrompt = b.Prompt, true
	} else {
		if b.System != "" {
			req.Messages = append(req.Messages, stream.Message{Role: stream.RoleSystem, Content: b.System})
		}
		req.Messages = append(req.Messages, stream.Message{Role: stream.RoleUser, Content: b.Prompt})
	}
	if err := b.Options.apply(req); err != nil {
		return nil, err
	}
	f, err := parseFormat(b.Format)
	if err != nil {
		return nil, err
	}
	req.ResponseFormat = f
	req.Thinking = b.Think != nil && b.Think.On
	return req, nil
}

func (o *ModelOptions) apply(req *stream.Request) *stream.Error {
	if o == nil {
		return nil
	}
	if err := dialect.StreamLimits(req, o.BufferSize, o.TimeoutMs, "options."); err != nil {
		return err
	}
	s := &req.Sampling
	if o.NumPredict != nil && *o.NumPredict > 0 { // -1 and -2 mean "no limit"
		s.MaxTokens = *o.NumPredict
	}
	if o.Temperature != nil && (*o.Temperature < 0 || *o.Temperature > 2) {
		return stream.InvalidParam("options.temperature", "options.temperature must be between 0 and 2")
	}
	if o.TopP != nil && (*o.TopP < 0 || *o.TopP > 1) {
		return stream.InvalidParam("options.top_p", "options.top_p must be between 0 and 1")
	}
	if o.TopK != nil && *o.TopK < 0 {
		return stream.InvalidParam("options.top_k", "options.top_k must not be negative")
	}
	s.Temperature, s.TopP, s.TopK = o.Temperature, o.TopP, o.TopK
	s.MinP, s.RepeatPenalty, s.Seed = o.MinP, o.RepeatPenalty, o.Seed
	s.Stop = o.Stop
	return nil
}

// serve runs one call and writes it as NDJSON (streamed) or one object.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, req *stream.Request, model string, streamed, chat bool) {
	received := time.Now()
	if streamed && !dialect.CanStream(s.gw, req.Model) {
		writeError(w, dialect.NoStream(req.Model, `call again with "stream": false`))
		return
	}
	// Over a provider that reports its waits (gateway.Call.FlushOnWait),
	// streamed lines are written unflushed and flushed before the call
	// waits for it: lines the upstream sent together leave in one write,
	// and none is held back.
	var e *encoder
	ctx := r.Context()
	if streamed {
		ctx = stream.WithBeforeWait(ctx, func() {
			if e != nil {
				e.flushPending()
			}
		})
	}
	call, err := s.gw.Start(ctx, req)
	if err != nil {
		writeError(w, formatError(stream.AsError(err)))
		return
	}
	defer call.Close()
	e = &encoder{w: w, model: model, chat: chat, streamed: streamed, received: received, started: time.Now()}
	if f, ok := w.(http.Flusher); ok {
		e.flusher = f
		e.deferFlush = streamed && call.FlushOnWait
	}
	for {
		ev, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			e.fail(stream.AsError(err))
			return
		}
		switch ev.Kind {
		case stream.KindDelta:
			if !e.delta(ev.Channel, ev.Text) {
				return
			}
		case stream.KindToolCall:
			e.calls = stream.MergeToolCall(e.calls, *ev.ToolCall)
		case stream.KindUsage:
			u := *ev.Usage
			e.usage = &u
		case stream.KindError:
			e.fail(ev.Err)
			return
		case stream.KindFinish:
			e.finish = ev.Finish
		}
	}
	if e.usage == nil {
		u := call.Summary().Usage
		e.usage = &u
	}
	e.end()
}

// encoder writes one call's events in Ollama's shape. Lines are appended
// into a reused buffer: the per-token path allocates nothing.
type encoder struct {
	w        http.ResponseWriter
	flusher  http.Flusher
	model    string
	chat     bool
	streamed bool
	wrote    bool // headers sent
	broken   bool // client gone
	// deferFlush leaves lines after the first unflushed (pending) until
	// flushPending, which runs before the call waits for its provider.
	deferFlush, pending bool

	received, started, first time.Time

	buf           []byte
	text, thought strings.Builder // non-streamed only
	calls         []stream.ToolCall
	usage         *stream.Usage
	finish        stream.FinishReason
}

func (e *encoder) head() []byte {
	b := append(e.buf[:0], `{"model":`...)
	b = dialect.AppendJSONString(b, e.model)
	b = append(b, `,"created_at":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `",`...)
}

// delta writes one content line (or keeps it, when not streamed).
func (e *encoder) delta(ch stream.Channel, text string) bool {
	if e.first.IsZero() {
		e.first = time.Now()
	}
	if !e.streamed {
		if ch == stream.Thinking {
			e.thought.WriteString(text)
		} else {
			e.text.WriteString(text)
		}
		return true
	}
	b := e.head()
	if e.chat {
		b = append(b, `"message":{"role":"assistant","content":`...)
		if ch == stream.Thinking {
			b = append(b, `"","thinking":`...)
		}
		b = dialect.AppendJSONString(b, text)
		b = append(b, '}')
	} else {
		b = append(b, `"response":`...)
		if ch == stream.Thinking {
			b = append(b, `"","thinking":`...)
		}
		b = dialect.AppendJSONString(b, text)
	}
	b = append(b, ",\"done\":false}\n"...)
	e.buf = b
	return e.line(b)
}

func (e *encoder) line(b []byte) bool {
	if e.broken {
		return false
	}
	if !e.wrote {
		e.wrote = true
		h := e.w.Header()
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		e.w.WriteHeader(http.StatusOK)
		if e.streamed {
			// The first line leaves at once (coalescing is for what
			// follows), with the headers.
			e.put(b, true)
			return !e.broken
		}
	}
	e.put(b, !e.deferFlush)
	return !e.broken
}

// put writes b and flushes it, or leaves it pending.
func (e *encoder) put(b []byte, flush bool) {
	if _, err := e.w.Write(b); err != nil {
		e.broken = true
		return
	}
	if !flush {
		e.pending = true
	} else if e.flusher != nil {
		e.flusher.Flush()
	}
}

// flushPending flushes the lines line left unflushed.
func (e *encoder) flushPending() {
	if e.pending && !e.broken {
		e.pending = false
		e.flusher.Flush()
	}
}

// fail reports an error: as a status before anything was sent, else as an
// error line, which Ollama's clients raise.
func (e *encoder) fail(err *stream.Error) {
	if err.Code == stream.CodeCancelled {
		return // the client is gone
	}
	if !e.wrote {
		writeError(e.w, err)
		return
	}
	b := append(e.buf[:0], `{"error":`...)
	b = dialect.AppendJSONString(b, err.Message)
	e.line(append(b, "}\n"...))
}

// toolCalls converts the assembled calls, whose arguments must be JSON
// objects in Ollama's shape.
func (e *encoder) toolCalls() ([]ToolCall, *stream.Error) {
	out := make([]ToolCall, 0, len(e.calls))
	for i, c := range e.calls {
		args := strings.TrimSpace(c.Arguments)
		if args == "" {
			args = "{}"
		}
		if !json.Valid([]byte(args)) || args[0] != '{' {
			return nil, stream.Errorf(stream.CodeUpstream, "tool call %q has arguments that are not a JSON object", c.Name)
		}
		out = append(out, ToolCall{ID: c.ID, Function: ToolFunction{Index: i, Name: c.Name, Arguments: json.RawMessage(args)}})
	}
	return out, nil
}

// end writes the tool calls, if any, and the final object.
func (e *encoder) end() {
	now := time.Now()
	var calls []ToolCall
	if len(e.calls) > 0 && e.chat {
		var err *stream.Error
		if calls, err = e.toolCalls(); err != nil {
			e.fail(err)
			return
		}
	}
	final := Chunk{Model: e.model, CreatedAt: now.UTC().Format(time.RFC3339Nano), Done: true, Metrics: e.metrics(now)}
	if e.chat {
		final.Message = &Message{Role: stream.RoleAssistant}
	} else {
		final.Response = new(string)
	}
	if e.streamed && len(calls) > 0 {
		// Ollama sends tool calls whole, in a line of their own.
		c := Chunk{Model: e.model, CreatedAt: final.CreatedAt, Message: &Message{Role: stream.RoleAssistant, ToolCalls: calls}}
		if !e.json(c) {
			return
		}
	}
	if !e.streamed {
		if e.chat {
			final.Message.Content, final.Message.Thinking, final.Message.ToolCalls = e.text.String(), e.thought.String(), calls
		} else {
			*final.Response, final.Thinking = e.text.String(), e.thought.String()
		}
		b, _ := json.Marshal(final)
		h := e.w.Header()
		h.Set("Content-Type", "application/json")
		e.w.WriteHeader(http.StatusOK)
		e.w.Write(b)
		return
	}
	e.json(final)
}

func (e *encoder) json(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return e.line(append(b, '\n'))
}

// metrics fills the final counts and durations: the provider's own timings
// where it measured them, else what the server measured around the call.
func (e *encoder) metrics(now time.Time) Metrics {
	m := Metrics{DoneReason: doneReason(e.finish), TotalDuration: int64(now.Sub(e.received)), LoadDuration: int64(e.started.Sub(e.received))}
	first := e.first
	if first.IsZero() {
		first = now
	}
	m.PromptEvalDuration, m.EvalDuration = int64(first.Sub(e.started)), int64(now.Sub(first))
	if u := e.usage; u != nil {
		m.PromptEvalCount, m.EvalCount = u.PromptTokens, u.CompletionTokens
		if u.PromptDuration > 0 {
			m.PromptEvalDuration = int64(u.PromptDuration)
		}
		if u.GenerationDuration > 0 {
			m.EvalDuration = int64(u.GenerationDuration)
		}
	}
	return m
}

func doneReason(f stream.FinishReason) string {
	if f == stream.FinishLength {
		return "length"
	}
	return "stop" // Ollama reports tool calls and filters as a plain stop
}

// writeLoaded answers an empty chat or prompt as Ollama does: a final object
// with done_reason "load".
func writeLoaded(w http.ResponseWriter, model string, chat bool) {
	c := Chunk{Model: model, CreatedAt: time.Now().UTC().Format(time.RFC3339Nano), Done: true, Metrics: Metrics{DoneReason: "load"}}
	if chat {
		c.Message = &Message{Role: stream.RoleAssistant}
	} else {
		c.Response = new(string)
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) tags(w http.ResponseWriter, r *http.Request) {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return
	}
	models, err := s.gw.Models(r.Context())
	if err != nil {
		writeError(w, stream.AsError(err))
		return
	}
	out := ListResponse{Models: make([]ListModel, 0, len(models))}
	for _, m := range models {
		out.Models = append(out.Models, listModel(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func listModel(m gateway.ModelInfo) ListModel {
	sum := sha256.Sum256([]byte(m.ID))
	return ListModel{
		Name: m.ID, Model: m.ID, ModifiedAt: m.Created,
		Digest:  hex.EncodeToString(sum[:]),
		Details: ModelDetails{Family: m.Provider, Families: []string{m.Provider}},
	}
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, VersionResponse{Version: s.opts.Version})
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return
	}
	var body ShowRequest
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, &body); err != nil {
		writeError(w, err)
		return
	}
	name := body.Model
	if name == "" {
		name = body.Name
	}
	if name == "" {
		writeError(w, stream.InvalidParam("model", "model is required"))
		return
	}
	models, err := s.gw.Models(r.Context())
	if err != nil {
		writeError(w, stream.AsError(err))
		return
	}
	for _, m := range models {
		if m.ID == name {
			lm := listModel(m)
			info := map[string]any{"general.architecture": m.Provider}
			if m.ContextLength > 0 {
				info["general.context_length"] = m.ContextLength
			}
			writeJSON(w, http.StatusOK, ShowResponse{Details: lm.Details, ModelInfo: info, Capabilities: []string{"completion"}, ModifiedAt: m.Created})
			return
		}
	}
	writeError(w, stream.Errorf(stream.CodeNotFound, "model %q not found", name))
}

// writeError writes Ollama's error shape with the code's status.
func writeError(w http.ResponseWriter, err *stream.Error) {
	if err.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfter(err.RetryAfter))
	}
	writeJSON(w, dialect.Status(err.Code), ErrorResponse{Error: err.Message})
}

func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
