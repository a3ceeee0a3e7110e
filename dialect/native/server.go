package native

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Options configure a Server.
type Options struct {
	// BodyLimit bounds request bodies (dialect.DefaultBodyLimit if 0).
	BodyLimit int64
	// KeepAlive is the silence after which a comment line is sent
	// (sse.DefaultKeepAlive if 0, none if negative).
	KeepAlive time.Duration

	// Tokens issues and verifies stream tokens (NewTokens(nil, 0) if nil).
	Tokens *Tokens
	// Identity returns the caller's identity from a request context (set by
	// the auth middleware), to be carried in a stream token. nil, or "",
	// means auth is off.
	Identity func(ctx context.Context) string
	// WithIdentity puts a token's identity back into the context of a GET
	// stream request, for the gateway's Accountant; an error (the key the
	// token names was revoked since) is answered instead. nil leaves ctx
	// as is.
	WithIdentity func(ctx context.Context, identity string) (context.Context, *stream.Error)
	// RequireToken makes GET /api/v1/inference/stream refuse requests
	// without a valid token; set it when auth is on.
	RequireToken bool
	// Authorize, when set, checks the caller of DELETE /api/v1/streams/{id}
	// sent without a token (an API key in a header, already read by the
	// auth middleware); an error is answered with a 401. nil lets every
	// caller through: a stream is cancelled only for its owner anyway.
	Authorize func(ctx context.Context) error

	// Resume serves resumable streams (a Resumer of its own, owned by
	// Identity's caller, if nil). The GET stream is always resumable;
	// the POST streams when asked with the Runnel-Resumable header.
	Resume *dialect.Resumer

	// CanStream reports whether a model can stream; a model that cannot
	// gets a 400 on the streaming endpoints pointing to /api/v1/generate.
	// nil asks the gateway (dialect.CanStream).
	CanStream func(model string) bool
}

// Server serves the native APIs on top of a gateway.
type Server struct {
	gw   dialect.Gateway
	opts Options
}

// NewServer returns a Server calling gw.
func NewServer(gw dialect.Gateway, opts Options) *Server {
	if opts.Tokens == nil {
		opts.Tokens = NewTokens(nil, 0)
	}
	if opts.CanStream == nil {
		opts.CanStream = func(model string) bool { return dialect.CanStream(gw, model) }
	}
	if opts.Resume == nil {
		opts.Resume = dialect.NewResumer(resume.Options{}, opts.Identity)
		opts.Resume.KeepAlive = opts.KeepAlive
	}
	opts.Resume.Register(kindInference, dialect.Codec{WriteError: writeError, StreamError: func(out *sse.Writer, err *stream.Error) {
		writeEvent(out, Token{Done: true, FinishReason: string(stream.FinishError), Error: &ErrorBody{Code: string(err.Code), Message: err.Message}})
	}})
	opts.Resume.Register(kindGenerate, dialect.Codec{WriteError: writeError, StreamError: func(out *sse.Writer, err *stream.Error) {
		if writeEvent(out, Item{Type: "error", Name: "error", Code: string(err.Code), Content: err.Message, Done: true, IsFinal: true}) == nil {
			writeEvent(out, Final{Final: true, Warnings: []string{err.Message}, FinishReason: string(stream.FinishError)})
		}
	}})
	return &Server{gw: gw, opts: opts}
}

// Register adds the native routes to mux.
//
// GET /api/v1/inference/stream authenticates with ?token= (from POST
// /api/v1/stream-tokens) instead of a header: the auth middleware must let
// it through without a key, and this handler checks the token. So may
// DELETE /api/v1/streams/{id}, which cancels a resumable stream of any
// dialect.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/inference/stream", s.opts.Resume.Reconnects(kindInference, s.inferencePost))
	mux.HandleFunc("GET /api/v1/inference/stream", s.inferenceGet)
	mux.HandleFunc("POST /api/v1/stream-tokens", s.streamToken)
	mux.HandleFunc("POST /api/v1/generate/stream", s.opts.Resume.Reconnects(kindGenerate, s.generateStream))
	mux.HandleFunc("POST /api/v1/generate", s.generate)
	mux.HandleFunc("DELETE "+streamsPath+"{id}", s.cancelStream)
}

const streamsPath = "/api/v1/streams/"

// IsTokenRoute reports whether r carries a stream token to a route that
// accepts one (the GET token stream, a stream's DELETE), which the auth
// middleware should pass through unchecked.
func IsTokenRoute(r *http.Request) bool {
	switch {
	case !r.URL.Query().Has("token"):
		return false
	case r.Method == http.MethodGet:
		return r.URL.Path == "/api/v1/inference/stream"
	case r.Method == http.MethodDelete:
		return strings.HasPrefix(r.URL.Path, streamsPath)
	}
	return false
}

// tokenCaller returns r's context with the caller its ?token= names
// restored; ok is false when r has no token.
func (s *Server) tokenCaller(r *http.Request) (ctx context.Context, ok bool, err *stream.Error) {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		return r.Context(), false, nil
	}
	identity, verr := s.opts.Tokens.Verify(tok)
	if verr != nil {
		return nil, true, stream.Errorf(stream.CodeUnauthorized, "%v; get a new one from POST /api/v1/stream-tokens", verr)
	}
	ctx = r.Context()
	if s.opts.WithIdentity != nil {
		if ctx, err = s.opts.WithIdentity(ctx, identity); err != nil {
			return nil, true, err
		}
	}
	return ctx, true, nil
}

// cancelStream is DELETE /api/v1/streams/{id}: a client stopping a
// resumable stream on purpose, so that its generation ends now rather
// than after the grace period kept for a broken connection.
func (s *Server) cancelStream(w http.ResponseWriter, r *http.Request) {
	ctx, tok, err := s.tokenCaller(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !tok {
		if e := dialect.Authorize(ctx, s.opts.Authorize); e != nil {
			writeError(w, e)
			return
		}
	}
	if err := s.opts.Resume.Cancel(ctx, r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// streamToken issues a stream token to the caller, who must be one the
// other APIs accept: with auth on, a missing, invalid or revoked key is a
// 401, as anywhere else, not a token.
func (s *Server) streamToken(w http.ResponseWriter, r *http.Request) {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return
	}
	var identity string
	if s.opts.Identity != nil {
		identity = s.opts.Identity(r.Context())
	}
	tok, exp := s.opts.Tokens.Issue(identity)
	writeJSON(w, http.StatusOK, StreamToken{Token: tok, ExpiresAt: exp.Unix()})
}

// Resumable streams' kinds: a stream resumes only on the endpoints that
// encode it alike (the GET and POST token streams share theirs).
const (
	kindInference = "native.inference"
	kindGenerate  = "native.generate"
)

func (s *Server) inferencePost(w http.ResponseWriter, r *http.Request) {
	var body InferenceRequest
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, &body); err != nil {
		writeError(w, err)
		return
	}
	s.inference(w, r, &body, dialect.Wants(r), false)
}

func (s *Server) inferenceGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx, tok, err := s.tokenCaller(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !tok && s.opts.RequireToken {
		writeError(w, &stream.Error{Code: stream.CodeUnauthorized, Param: "token", Message: "token is required: get one from POST /api/v1/stream-tokens"})
		return
	}
	if last := dialect.LastEventID(r); last != "" {
		// An EventSource reconnecting. An id that is not a resumable
		// stream's gets 204, which stops EventSource reconnecting: running
		// the prompt again would repeat text and cost. Any 4xx also stops
		// it (a failed connection is not retried), and says why.
		if _, _, ok := resume.ParseID(last); !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err := s.opts.Resume.Resume(w, r.WithContext(ctx), kindInference, last); err != nil {
			writeError(w, err)
		}
		return
	}
	body := InferenceRequest{Model: q.Get("model"), Prompt: q.Get("prompt")}
	if m := q.Get("messages"); m != "" {
		if err := json.Unmarshal([]byte(m), &body.Messages); err != nil {
			writeError(w, stream.InvalidParam("messages", "messages must be a JSON array of {role, content}: %v", err))
			return
		}
	}
	if p := q.Get("parameters"); p != "" {
		if err := json.Unmarshal([]byte(p), &body.Params); err != nil {
			writeError(w, stream.InvalidParam("parameters", "parameters must be a JSON object: %v", err))
			return
		}
	}
	s.inference(w, r.WithContext(ctx), &body, true, true)
}

// toRequest converts the token stream's body.
// A body without a model gets the server's default model (seed 002's
// {"prompt": "Hello"}).
func (b *InferenceRequest) toRequest() (*stream.Request, *stream.Error) {
	req := &stream.Request{Model: b.Model}
	msgs, err := messages(b.Messages, "messages")
	if err != nil {
		return nil, err
	}
	req.Messages = msgs
	if b.Prompt != "" {
		req.Messages = append(req.Messages, stream.Message{Role: stream.RoleUser, Content: b.Prompt})
	}
	if len(req.Messages) == 0 {
		return nil, stream.InvalidParam("messages", "messages (or prompt) is required")
	}
	if err := b.Params.Apply(req); err != nil {
		return nil, err
	}
	return req, nil
}

func messages(in []Message, param string) ([]stream.Message, *stream.Error) {
	out := make([]stream.Message, 0, len(in)+1)
	for i, m := range in {
		switch m.Role {
		case stream.RoleSystem, stream.RoleUser, stream.RoleAssistant:
		default:
			return nil, stream.InvalidParam(param, "%s[%d].role %q must be system, user or assistant", param, i, m.Role)
		}
		out = append(out, stream.Message{Role: m.Role, Content: m.Content})
	}
	return out, nil
}

// Apply validates p (nil is none) and sets what it asks for on req; an
// invalid field is a 400 naming it ("parameters.top_p"). The WebSocket API
// takes the same parameters.
func (p *Parameters) Apply(req *stream.Request) *stream.Error {
	if p == nil {
		return nil
	}
	if p.MaxTokens != nil {
		if *p.MaxTokens < 1 {
			return stream.InvalidParam("parameters.max_tokens", "parameters.max_tokens must be at least 1")
		}
		req.Sampling.MaxTokens = *p.MaxTokens
	}
	if t := p.Temperature; t != nil && (*t < 0 || *t > 2) {
		return stream.InvalidParam("parameters.temperature", "parameters.temperature must be between 0 and 2")
	}
	if t := p.TopP; t != nil && (*t < 0 || *t > 1) {
		return stream.InvalidParam("parameters.top_p", "parameters.top_p must be between 0 and 1")
	}
	if k := p.TopK; k != nil && *k < 0 {
		return stream.InvalidParam("parameters.top_k", "parameters.top_k must not be negative")
	}
	req.Sampling.Temperature, req.Sampling.TopP, req.Sampling.TopK = p.Temperature, p.TopP, p.TopK
	req.Sampling.Seed, req.Sampling.Stop = p.Seed, p.Stop
	req.Thinking = p.EnableThinking
	if err := dialect.StreamLimits(req, p.BufferSize, p.TimeoutMs, "parameters."); err != nil {
		return err
	}
	f, err := dialect.ParseResponseFormat(p.ResponseFormat, "parameters.response_format")
	if err != nil {
		return err
	}
	req.ResponseFormat = f
	return nil
}

// start checks the model can stream and starts the call.
func (s *Server) start(ctx context.Context, req *stream.Request, streamed bool) (*gateway.Call, *stream.Error) {
	if streamed && s.opts.CanStream != nil && !s.opts.CanStream(req.Model) {
		return nil, stream.InvalidParam("model", "model %q cannot stream; use the non-streaming endpoint POST /api/v1/generate", req.Model)
	}
	call, err := s.gw.Start(ctx, req)
	if err != nil {
		return nil, stream.AsError(err)
	}
	return call, nil
}

// inference runs the token stream, resumable or not. The GET stream (for
// EventSource) ends with a "data: [DONE]" after the final event, so that
// a client that closes on it, as EventSource clients commonly do, never
// reconnects; the POST stream, whose clients parse every data line as
// JSON, does not.
func (s *Server) inference(w http.ResponseWriter, r *http.Request, body *InferenceRequest, resumable, doneLine bool) {
	req, err := body.toRequest()
	if err != nil {
		writeError(w, err)
		return
	}
	s.opts.Resume.Stream(w, r, kindInference, resumable, sse.Options{KeepAlive: s.opts.KeepAlive, DeferFlush: true},
		func(ctx context.Context) (*gateway.Call, *stream.Error) { return s.start(ctx, req, true) },
		dialect.EncodeFunc(func(_ context.Context, out *sse.Writer, call *gateway.Call) {
			tokens(out, call, req.Thinking, doneLine)
		}))
}

// tokens writes call as the token stream's events. Thinking deltas go out
// (with "channel": "thinking") only when thinking is set: a client reading
// only "token" must never print the model's reasoning as its answer. With
// doneLine the stream ends with "data: [DONE]" after the final event.
func tokens(out *sse.Writer, call *gateway.Call, thinking, doneLine bool) {
	// The per-token event has a fixed shape: its tail is encoded once.
	tail := []byte(`,"done":false,"provider":`)
	tail = dialect.AppendJSONString(tail, call.Provider)
	buf := make([]byte, 0, 256)
	// On the heap, not in this frame, which is under every flush (see
	// toolCallItem).
	final := &Token{Done: true, Provider: call.Provider}
	var usage *stream.Usage
	sent := false // the first token is out
	for {
		ev, rerr := call.Recv()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			ev = stream.ErrorEvent(stream.AsError(rerr))
		}
		switch ev.Kind {
		case stream.KindDelta:
			if ev.Channel == stream.Thinking && !thinking {
				continue
			}
			b := append(buf[:0], `{"token":`...)
			b = dialect.AppendJSONString(b, ev.Text)
			b = append(b, tail...)
			if ev.Channel == stream.Thinking {
				b = append(b, `,"channel":"thinking"`...)
			}
			buf = append(b, '}')
			if out.Send("", buf) != nil {
				return
			}
			if !sent {
				sent = true
				out.Flush() // the first token never waits: see sse.Options.DeferFlush
			}
		case stream.KindUsage:
			u := *ev.Usage
			usage = &u
		case stream.KindFinish:
			final.FinishReason = string(ev.Finish)
		case stream.KindError:
			if ev.Err.Code == stream.CodeCancelled {
				return
			}
			final.Error = &ErrorBody{Code: string(ev.Err.Code), Message: ev.Err.Message}
			final.FinishReason = string(stream.FinishError)
			writeFinal(out, final, doneLine)
			return
		}
		if rerr != nil {
			return
		}
	}
	if usage == nil {
		usage = summaryUsage(call)
	}
	final.Usage = usageOf(*usage)
	writeFinal(out, final, doneLine)
}

// summaryUsage is the call's own count (out of line: its summary is
// large).
//
//go:noinline
func summaryUsage(call *gateway.Call) *stream.Usage {
	u := call.Summary().Usage
	return &u
}

// writeFinal ends the token stream with final, and "data: [DONE]" with
// doneLine.
//
//go:noinline
func writeFinal(out *sse.Writer, final *Token, doneLine bool) {
	if writeEvent(out, final) == nil && doneLine {
		out.Send("", doneData)
	}
}

var doneData = []byte("[DONE]")

func usageOf(u stream.Usage) *Usage {
	return &Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens()}
}

func writeEvent(out *sse.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return out.Send("", b)
}

// wellKnown maps service names that clients written for other services
// use (seed 001's "google-gemini") to the built-in provider serving them,
// which is registered under its type's name when its credentials are in
// the environment (GEMINI_API_KEY, ANTHROPIC_API_KEY).
var wellKnown = map[string]string{
	"google-gemini":    "gemini",
	"google":           "gemini",
	"google-ai-studio": "gemini",
	"claude":           "anthropic",
	"anthropic-claude": "anthropic",
	"openai-gpt":       "openai",
}

// models maps service_name and model_name to the router's model names, to
// try in turn while the router knows none: a service names a provider
// ("mock", "openai", a configured deployment), so first
// service_name/model_name; then, for a well-known service name, the
// built-in provider that serves it ("google-gemini" → gemini/model_name);
// then model_name alone (service names that are only labels).
func (b *GenerateRequest) models() []string {
	if b.ServiceName == "" || strings.HasPrefix(b.ModelName, b.ServiceName+"/") {
		return []string{b.ModelName}
	}
	out := []string{b.ServiceName + "/" + b.ModelName}
	if p, ok := wellKnown[strings.ToLower(b.ServiceName)]; ok && p != b.ServiceName && !strings.HasPrefix(b.ModelName, p+"/") {
		out = append(out, p+"/"+b.ModelName)
	}
	return append(out, b.ModelName)
}

// toRequest converts a typed generation body: history first, then the text
// inputs as one user turn (an input named "system" is the system prompt).
func (b *GenerateRequest) toRequest() (*stream.Request, *stream.Error) {
	if b.ModelName == "" {
		return nil, stream.InvalidParam("model_name", "model_name is required")
	}
	req := &stream.Request{}
	var system string
	var user []string
	for i, in := range b.Input {
		if in.Type != "text" {
			return nil, stream.InvalidParam("input", "input[%d].type %q is not supported; only text inputs are", i, in.Type)
		}
		if in.Name == "system" {
			system = in.Content
			continue
		}
		user = append(user, in.Content)
	}
	if len(user) == 0 {
		return nil, stream.InvalidParam("input", "input must hold at least one text item")
	}
	if system != "" {
		req.Messages = append(req.Messages, stream.Message{Role: stream.RoleSystem, Content: system})
	}
	hist, err := messages(b.History, "history")
	if err != nil {
		return nil, err
	}
	req.Messages = append(req.Messages, hist...)
	req.Messages = append(req.Messages, stream.Message{Role: stream.RoleUser, Content: strings.Join(user, "\n\n")})
	if err := b.Params.Apply(req); err != nil {
		return nil, err
	}
	return req, nil
}

// decodeGenerate decodes a typed generation's body. On failure it has
// answered with the error and returns nil.
func (s *Server) decodeGenerate(w http.ResponseWriter, r *http.Request) (*stream.Request, []string) {
	var body GenerateRequest
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, &body); err != nil {
		writeError(w, err)
		return nil, nil
	}
	req, err := body.toRequest()
	if err != nil {
		writeError(w, err)
		return nil, nil
	}
	return req, body.models()
}

// startGenerate starts a typed generation, trying the model names in turn
// (see GenerateRequest.models); it returns the one that served.
func (s *Server) startGenerate(ctx context.Context, req *stream.Request, models []string, streamed bool) (*gateway.Call, string, *stream.Error) {
	for i, model := range models {
		req.Model = model
		call, err := s.start(ctx, req, streamed)
		if err == nil {
			return call, model, nil
		}
		if err.Code != stream.CodeNotFound || i == len(models)-1 {
			return nil, "", err
		}
	}
	return nil, "", stream.InvalidParam("model_name", "model_name is required") // no names: not reached
}

// outputs assigns each output (a channel or a tool call) its index, in the
// order they first appear.
type outputs struct {
	items []Item // for /generate: the joined content; for streams: names
	tools map[int]int
}

func (o *outputs) index(typ, name, id string, tool int) (int, bool) {
	if typ == "tool_call" {
		if i, ok := o.tools[tool]; ok {
			return i, false
		}
		if o.tools == nil {
			o.tools = map[int]int{}
		}
		o.tools[tool] = len(o.items)
	} else {
		for i, it := range o.items {
			if it.Type == typ && it.Name == name {
				return i, false
			}
		}
	}
	o.items = append(o.items, Item{Type: typ, Name: name, ID: id, Index: len(o.items)})
	return len(o.items) - 1, true
}

func (s *Server) generateStream(w http.ResponseWriter, r *http.Request) {
	req, models := s.decodeGenerate(w, r)
	if req == nil {
		return
	}
	var model string
	s.opts.Resume.Stream(w, r, kindGenerate, dialect.Wants(r), sse.Options{KeepAlive: s.opts.KeepAlive, DeferFlush: true},
		func(ctx context.Context) (call *gateway.Call, err *stream.Error) {
			call, model, err = s.startGenerate(ctx, req, models, true)
			return call, err
		},
		dialect.EncodeFunc(func(_ context.Context, out *sse.Writer, call *gateway.Call) { s.generateEvents(out, call, model) }))
}

// generateEvents writes call as typed generation events.
func (s *Server) generateEvents(out *sse.Writer, call *gateway.Call, model string) {
	var (
		o      outputs
		finish = stream.FinishStop
		buf    = make([]byte, 0, 256)
		failed bool
		sent   bool // the first token is out
	)
	for {
		ev, rerr := call.Recv()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			ev = stream.ErrorEvent(stream.AsError(rerr))
		}
		switch ev.Kind {
		case stream.KindDelta:
			i, _ := o.index("text", string(ev.Channel), "", 0)
			b := append(buf[:0], `{"type":"text","name":"`...)
			b = append(b, ev.Channel...)
			b = append(b, `","content":`...)
			b = dialect.AppendJSONString(b, ev.Text)
			b = append(b, `,"done":false,"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			buf = append(b, `,"is_final":false}`...)
			if out.Send("", buf) != nil {
				return
			}
			if !sent {
				sent = true
				out.Flush() // the first token never waits: see sse.Options.DeferFlush
			}
		case stream.KindToolCall:
			if toolCallItem(out, &o, ev.ToolCall) != nil {
				return
			}
			if !sent {
				sent = true
				out.Flush()
			}
		case stream.KindFinish:
			finish = ev.Finish
		case stream.KindError:
			if ev.Err.Code == stream.CodeCancelled {
				return
			}
			failed = true
			if errorItem(out, &o, ev.Err) != nil {
				return
			}
		}
		if rerr != nil {
			break
		}
	}
	if failed {
		finish = stream.FinishError
	}
	s.generateEnd(out, call, model, &o, finish)
}

// The items of the generate stream other than text deltas are written out
// of line, by the three functions below: an Item or a Final is large, and
// generateEvents' frame is under every flush, the first one included,
// where net/http writes the headers some 4 KiB deeper (see
// server.Handler.ServeHTTP).

//go:noinline
func toolCallItem(out *sse.Writer, o *outputs, tc *stream.ToolCallDelta) error {
	i, _ := o.index("tool_call", tc.Name, tc.ID, tc.Index)
	it := o.items[i]
	return writeEvent(out, Item{Type: "tool_call", Name: it.Name, ID: it.ID, Content: tc.Arguments, Index: i})
}

//go:noinline
func errorItem(out *sse.Writer, o *outputs, e *stream.Error) error {
	i, _ := o.index("error", "error", "", 0)
	return writeEvent(out, Item{Type: "error", Name: "error", Code: string(e.Code), Content: e.Message, Done: true, Index: i})
}

// generateEnd says each output is complete, the last one with is_final,
// then sends the final event.
//
//go:noinline
func (s *Server) generateEnd(out *sse.Writer, call *gateway.Call, model string, o *outputs, finish stream.FinishReason) {
	for i, it := range o.items {
		if it.Type == "error" {
			continue
		}
		done := Item{Type: it.Type, Name: it.Name, ID: it.ID, Done: true, Index: i, IsFinal: i == len(o.items)-1}
		if writeEvent(out, done) != nil {
			return
		}
	}
	writeEvent(out, s.final(call, model, finish))
}

func (s *Server) final(call *gateway.Call, model string, finish stream.FinishReason) Final {
	sum := call.Summary()
	warnings := sum.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	return Final{Final: true, Usage: *usageOf(sum.Usage), Cost: Cost(sum.Cost), Warnings: warnings,
		FinishReason: string(finish), Model: model, Provider: call.Provider}
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	req, models := s.decodeGenerate(w, r)
	if req == nil {
		return
	}
	call, model, err := s.startGenerate(r.Context(), req, models, false)
	if err != nil {
		writeError(w, err)
		return
	}
	defer call.Close()
	res := stream.Collect(call)
	if res.Err != nil {
		writeError(w, res.Err)
		return
	}
	resp := GenerateResponse{Output: []Item{}}
	add := func(typ, name, id, content string) {
		resp.Output = append(resp.Output, Item{Type: typ, Name: name, ID: id, Content: content, Done: true, Index: len(resp.Output)})
	}
	if res.Thinking != "" {
		add("text", string(stream.Thinking), "", res.Thinking)
	}
	add("text", string(stream.Output), "", res.Text)
	for _, tc := range res.ToolCalls {
		add("tool_call", tc.Name, tc.ID, tc.Arguments)
	}
	resp.Output[len(resp.Output)-1].IsFinal = true
	f := s.final(call, model, res.Finish)
	resp.Usage, resp.Cost, resp.Warnings, resp.FinishReason, resp.Model, resp.Provider = f.Usage, f.Cost, f.Warnings, f.FinishReason, f.Model, f.Provider
	writeJSON(w, http.StatusOK, resp)
}

func writeError(w http.ResponseWriter, err *stream.Error) {
	if err.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((err.RetryAfter+time.Second-1)/time.Second), 10))
	}
	writeJSON(w, dialect.Status(err.Code), ErrorResponse{Error: ErrorBody{Code: string(err.Code), Message: err.Message, Param: err.Param}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
