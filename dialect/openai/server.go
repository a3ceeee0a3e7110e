package openai

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/respstore"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Options configure a Server.
type Options struct {
	// BodyLimit caps request bodies (dialect.DefaultBodyLimit when 0).
	BodyLimit int64
	// KeepAlive is the silence after which a comment line is sent on a
	// stream (sse.DefaultKeepAlive when 0; negative disables).
	KeepAlive time.Duration
	// Logger receives stream failures; slog.Default() when nil.
	Logger *slog.Logger
	// OmitEventIDs leaves the id: line out of every event. Streams carry
	// ids by default, so a client can resume; OpenAI itself sends none, and
	// go-openai parses any non-data line it saw (ids, keep-alives) into the
	// body of a later error event, losing that error's message.
	OmitEventIDs bool
	// Resume serves the streams asked for with Runnel-Resumable: true (a
	// Resumer of its own, with no owners, if nil). They carry ids whatever
	// OmitEventIDs says.
	Resume *dialect.Resumer
	// Authorize, when set, checks the caller of the routes that make no
	// call (the model list, stored responses) and so are not admitted by
	// the gateway: an error is answered with a 401. nil lets every caller
	// through.
	Authorize func(ctx context.Context) error
	// Store keeps the responses of /v1/responses made with "store" (the
	// default), each for its caller as Resume.Owner names them: a
	// respstore.Memory with its defaults when nil.
	Store respstore.Store
}

// Server serves OpenAI's chat completions, completions, responses and
// models API over a gateway.
type Server struct {
	gw   dialect.Gateway
	opts Options
	log  *slog.Logger
}

// NewServer returns a Server answering with gw's calls.
func NewServer(gw dialect.Gateway, opts Options) *Server {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = dialect.DefaultBodyLimit
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Resume == nil {
		opts.Resume = dialect.NewResumer(resume.Options{}, nil)
		opts.Resume.KeepAlive = opts.KeepAlive
	}
	if opts.Store == nil {
		opts.Store = respstore.NewMemory(respstore.Options{})
	}
	s := &Server{gw: gw, opts: opts, log: log}
	codec := dialect.Codec{
		WriteError:  func(w http.ResponseWriter, err *stream.Error) { writeError(w, err) },
		StreamError: s.writeStreamError,
	}
	opts.Resume.Register(kindChat, codec)
	opts.Resume.Register(kindCompletions, codec)
	opts.Resume.Register(kindResponses, dialect.Codec{
		WriteError:  func(w http.ResponseWriter, err *stream.Error) { writeError(w, err) },
		StreamError: writeResponseStreamError,
	})
	return s
}

// Register mounts the OpenAI endpoints on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/chat/completions", s.opts.Resume.Reconnects(kindChat, s.ChatCompletions))
	mux.HandleFunc("POST /v1/completions", s.opts.Resume.Reconnects(kindCompletions, s.Completions))
	mux.HandleFunc("POST /v1/responses", s.opts.Resume.Reconnects(kindResponses, s.Responses))
	mux.HandleFunc("GET /v1/responses/{id}", s.GetResponse)
	mux.HandleFunc("DELETE /v1/responses/{id}", s.DeleteResponse)
	mux.HandleFunc("GET /v1/responses/{id}/input_items", s.InputItems)
	mux.HandleFunc("GET /v1/models", s.ListModels)
	mux.HandleFunc("GET /v1/models/{id...}", s.GetModel)
}

// Resumable streams' kinds: a stream resumes only where it started.
const (
	kindChat        = "openai.chat"
	kindCompletions = "openai.completions"
)

// ChatCompletions serves POST /v1/chat/completions (a reconnect to a
// resumable stream is answered before: see Register).
func (s *Server) ChatCompletions(w http.ResponseWriter, r *http.Request) {
	var body scannedChat
	req, mem := s.decode(w, r, &body)
	if req == nil {
		return
	}
	if body.Stream {
		s.stream(w, r, req, chatStream, body.Model, mem)
		return
	}
	s.chatCompletion(w, r, req, body.Model, mem)
}

// chatCompletion answers a chat call in one piece. A function of its own,
// so that its locals are no part of the frame a stream keeps (see
// logRequest in server).
func (s *Server) chatCompletion(w http.ResponseWriter, r *http.Request, req *stream.Request, model string, mem *dialect.Body) {
	call, err := s.start(offered(r.Context(), mem), req)
	if err != nil {
		writeError(w, err)
		return
	}
	id := withPrefix("chatcmpl-", call.ID)
	defer call.Close()
	res := stream.Collect(call)
	if res.Err != nil {
		writeError(w, res.Err)
		return
	}
	reason, _ := finishReason(res.Finish)
	msg := ResponseMessage{Role: "assistant", Content: &res.Text, ReasoningContent: res.Thinking}
	if len(res.ToolCalls) > 0 && res.Text == "" {
		msg.Content = nil
	}
	for _, tc := range res.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: tc.ID, Type: "function", Function: ToolCallFunction{Name: tc.Name, Arguments: tc.Arguments}})
	}
	writeJSON(w, http.StatusOK, ChatCompletion{
		ID: id, Object: "chat.completion", Created: call.Started.Unix(), Model: model,
		Choices: []ChatChoice{{Message: msg, FinishReason: reason, Logprobs: logprobsJSON(res.Logprobs)}},
		Usage:   wireUsage(usageOf(call, res.Usage)),
		Timings: wireTimings(res.Usage),
	})
}

// Completions serves POST /v1/completions.
func (s *Server) Completions(w http.ResponseWriter, r *http.Request) {
	var body CompletionRequest
	req, _ := s.decode(w, r, &body)
	if req == nil {
		return
	}
	if body.Stream {
		s.stream(w, r, req, completionStream, body.Model, nil)
		return
	}
	s.textCompletion(w, r, req, body.Model)
}

// textCompletion answers a completion in one piece (out of line: see
// chatCompletion).
//
//go:noinline
func (s *Server) textCompletion(w http.ResponseWriter, r *http.Request, req *stream.Request, model string) {
	call, err := s.start(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	id := withPrefix("cmpl-", call.ID)
	defer call.Close()
	res := stream.Collect(call)
	if res.Err != nil {
		writeError(w, res.Err)
		return
	}
	reason, _ := finishReason(res.Finish)
	writeJSON(w, http.StatusOK, TextCompletion{
		ID: id, Object: "text_completion", Created: call.Started.Unix(), Model: model,
		Choices: []TextChoice{{Text: res.Text, FinishReason: reason, Logprobs: logprobsJSON(res.Logprobs)}},
		Usage:   wireUsage(usageOf(call, res.Usage)),
		Timings: wireTimings(res.Usage),
	})
}

// scannedChat is a chat request's body with room for its first messages
// and its stream options, which scanChatInto reads into: one allocation
// where the body (which escapes through requestBody), its messages and
// its options were three.
type scannedChat struct {
	ChatRequest
	room chatRoom
}

// chatOf is body's chat request, and the room it has for scanChatInto,
// if it is one.
func chatOf(body requestBody) (*ChatRequest, *chatRoom) {
	switch b := body.(type) {
	case *scannedChat:
		return &b.ChatRequest, &b.room
	case *ChatRequest:
		return b, nil
	}
	return nil, nil
}

// requestBody is a request body that validates itself.
type requestBody interface {
	ToRequest() (*stream.Request, error)
	streamed() bool
}

// decode decodes and validates body. On failure it has answered with the
// error and returns nil. mem is the body's memory that the request's
// texts are views of (a scanned chat), for the gateway to give back
// (offered); nil when they are not.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, body requestBody) (req *stream.Request, mem *dialect.Body) {
	mem, viewed, err := s.decodeBody(w, r, body)
	if err != nil {
		writeError(w, err)
		return nil, nil
	}
	if req = s.validate(w, body, viewed); req == nil {
		return nil, nil // mem to the collector
	}
	return req, mem
}

// decodeBody decodes body: a chat request of the common shape with
// scanChat, anything else with encoding/json. A scanned chat (viewed)
// holds its body, from the pool when it is long (mem), and its
// messages' texts become views of it (validate).
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, body requestBody) (mem *dialect.Body, viewed bool, err *stream.Error) {
	if c, room := chatOf(body); c != nil {
		return dialect.DecodeJSONPooled(w, r, s.opts.BodyLimit, c, func(data []byte) bool { return scanChatInto(data, c, room) })
	}
	return nil, false, dialect.DecodeJSON(w, r, s.opts.BodyLimit, body)
}

// offered is ctx offering mem to the gateway (gateway.WithRequestMemory)
// when there is one: nothing here reads the request's texts once the
// call starts.
func offered(ctx context.Context, mem *dialect.Body) context.Context {
	if mem == nil {
		return ctx
	}
	return gateway.WithRequestMemory(ctx, mem)
}

// validate is decode's second half, for a body decoded already (viewed:
// see decodeBody).
func (s *Server) validate(w http.ResponseWriter, body requestBody, viewed bool) *stream.Request {
	var (
		req *stream.Request
		err error
	)
	if c, _ := chatOf(body); c != nil && viewed {
		req, err = c.toRequest(true)
	} else {
		req, err = body.ToRequest()
	}
	if err != nil {
		writeError(w, err)
		return nil
	}
	if body.streamed() && !dialect.CanStream(s.gw, req.Model) {
		writeError(w, dialect.NoStream(req.Model, `call again with "stream": false`))
		return nil
	}
	return req
}

// start starts the call; an unknown model is reported on the model param,
// as OpenAI does.
func (s *Server) start(ctx context.Context, req *stream.Request) (*gateway.Call, *stream.Error) {
	call, err := s.gw.Start(ctx, req)
	if err != nil {
		e := stream.AsError(err)
		if e.Code == stream.CodeNotFound && e.Param == "" {
			c := *e
			c.Param = "model"
			e = &c
		}
		return nil, e
	}
	return call, nil
}

// streamKind is what differs between a chat and a completion stream. One
// pointer, not three arguments: the frames that call stream stay under
// every flush of it.
type streamKind struct {
	kind, idPrefix string
	text           bool // legacy completion chunks
}

var (
	chatStream       = &streamKind{kindChat, "chatcmpl-", false}
	completionStream = &streamKind{kindCompletions, "cmpl-", true}
)

// stream runs req's call as SSE, through the resumption layer.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req *stream.Request, k *streamKind, model string, mem *dialect.Body) {
	// DeferFlush: events the upstream sent together may leave in one
	// write (the layer flushes before the call waits).
	// The encoder's closure keeps a flag, not the request: the messages
	// are no part of what an open stream holds (the gateway keeps what
	// the call's record needs).
	// A resumable call's log keeps the request: its memory is not
	// offered.
	includeUsage, resumable := req.IncludeUsage, dialect.Wants(r)
	if resumable {
		mem = nil
	}
	s.opts.Resume.Stream(w, r, k.kind, resumable, sse.Options{KeepAlive: s.opts.KeepAlive, OmitIDs: s.opts.OmitEventIDs, DeferFlush: true},
		func(ctx context.Context) (*gateway.Call, *stream.Error) { return s.start(offered(ctx, mem), req) },
		&chunkStream{s: s, k: k, model: model, includeUsage: includeUsage})
}

// chunkStream is a chat or completion stream's dialect.Encoder: what it
// needs to know and its chunk encoder in one allocation (a closure and
// the encoder were two, the closure's escaping through the resumable
// path).
type chunkStream struct {
	s            *Server
	k            *streamKind
	model        string
	includeUsage bool
	enc          chunkEncoder
}

func (c *chunkStream) Encode(ctx context.Context, out *sse.Writer, call *gateway.Call) {
	c.initEncoder(call)
	c.s.events(ctx, out, call, &c.enc, c.includeUsage)
}

// initEncoder makes call's chunk encoder, out of line: the frame that
// calls events stays small, under every flush of the stream.
//
//go:noinline
func (c *chunkStream) initEncoder(call *gateway.Call) {
	c.enc.init(c.k.idPrefix, call.ID, c.model, call.Started.Unix(), c.k.text)
}

// events writes call's events, then [DONE]: the first at once, the others
// flushed when the call is about to wait (sse.Options.DeferFlush). ctx is the call's: once it is done, nobody is listening.
func (s *Server) events(ctx context.Context, out *sse.Writer, call *gateway.Call, enc *chunkEncoder, includeUsage bool) {
	st := eventsState{includeUsage: includeUsage}
	tok := call.TokenStream()
	var te sse.TextEvent // a plain token's event, once the encoder has one
	for {
		if tok != nil && st.sent {
			// Plain tokens through every layer's token path
			// (stream.TokenStream): no Event on the way; anything else
			// is Recv's, below.
			if te.Lines != nil || enc.tokenEvent(&te) {
				// Each chunk's head, text and tail straight into the
				// writer (sse.Writer.SendText), in a loop of its own:
				// a token runs its few lines and no check of this one's.
				if !dialect.SendTokens(tok, out, &te) {
					return // client gone; Close cancels the upstream
				}
			} else if text, ok := tok.RecvToken(); ok {
				if sendDelta(out, enc, text) != nil {
					return
				}
				continue
			}
		}
		ev, err := call.Recv()
		// A token of text without logprobs, the common event, is written
		// here; every other event, error and end in other, out of line, so
		// that the loop a token runs stays in few instruction-cache lines
		// (docs/benchmarks.md, issue 13, icache session).
		if err == nil && ev.Kind == stream.KindDelta && ev.Logprobs() == "" && enc.Has(ev.Channel) {
			// The encoder's JSON escapes every line break: one data
			// line, appended straight into the writer's buffer.
			ch, text := ev.Channel, ev.Text
			if out.SendAppend("", func(b []byte) []byte { return enc.AppendDelta(b, ch, text, "") }) != nil {
				return // client gone; Close cancels the upstream
			}
			if !st.sent {
				st.sent = true
				out.Flush() // the first token never waits: see sse.Options.DeferFlush
			}
			continue
		}
		if !s.other(ctx, out, call, enc, &st, &ev, err) {
			return
		}
	}
}

// sendDelta is AppendDelta's chunk of a token of the token path, for an
// encoder with no token head; out of line.
//
//go:noinline
func sendDelta(out *sse.Writer, enc *chunkEncoder, text string) error {
	return out.SendAppend("", func(b []byte) []byte { return enc.AppendDelta(b, stream.Output, text, "") })
}

// eventsState is what events keeps across events.
type eventsState struct {
	usage        *stream.Usage
	errSent      bool
	sent         bool // the first event is out
	includeUsage bool
}

// other writes any event but a plain token's (see events), and ends the
// stream on an error or the end: false once it is over.
//
//go:noinline
func (s *Server) other(ctx context.Context, out *sse.Writer, call *gateway.Call, enc *chunkEncoder, st *eventsState, evp *stream.Event, err error) bool {
	if err == io.EOF {
		if st.includeUsage {
			if u := usageOf(call, st.usage); u != nil {
				if out.SendAppend("", func(b []byte) []byte { return enc.AppendUsage(b, u) }) != nil {
					return false
				}
			}
		}
		done(out)
		return false
	}
	if err != nil {
		s.recvFailed(ctx, out, err)
		return false
	}
	ev := evp // read only
	var werr error
	switch ev.Kind {
	case stream.KindDelta:
		if !enc.Has(ev.Channel) {
			return true
		}
		// The upstream's raw JSON may hold any whitespace: Send splits
		// its lines.
		werr = out.Send("", enc.Delta(ev.Channel, ev.Text, ev.Logprobs()))
	case stream.KindToolCall:
		if enc.legacy {
			return true
		}
		tc := ev.ToolCall
		werr = out.SendAppend("", func(b []byte) []byte { return enc.AppendToolCall(b, tc) })
	case stream.KindUsage:
		st.usage = ev.Usage
		return true
	case stream.KindFinish:
		reason, ok := finishReason(ev.Finish)
		if !ok {
			s.badFinish(ctx, out, ev.Finish, st.errSent)
			return false
		}
		usage := st.usage
		werr = out.SendAppend("", func(b []byte) []byte { return enc.AppendFinish(b, reason, usage) })
	case stream.KindError:
		if !s.streamFailed(ctx, out, call, ev.Err) {
			return false
		}
		st.errSent = true
		return true
	default:
		return true
	}
	if werr != nil {
		return false // client gone; Close cancels the upstream
	}
	if !st.sent {
		st.sent = true
		out.Flush() // the first token never waits: see sse.Options.DeferFlush
	}
	return true
}

// recvFailed ends a stream whose call failed (out of line: see
// streamFailed).
//
//go:noinline
func (s *Server) recvFailed(ctx context.Context, out *sse.Writer, err error) {
	e := stream.AsError(err)
	if e.Code == stream.CodeCancelled && ctx.Err() != nil {
		return // the client is gone; nobody to tell
	}
	s.writeStreamError(out, e)
}

// badFinish ends a stream that finished with a reason OpenAI has no name
// for (out of line: see streamFailed).
//
//go:noinline
func (s *Server) badFinish(ctx context.Context, out *sse.Writer, f stream.FinishReason, errSent bool) {
	if f == stream.FinishCancelled && ctx.Err() != nil {
		return
	}
	// An error event normally came before this finish.
	if !errSent {
		s.writeStreamError(out, stream.Errorf(stream.CodeUpstream, "the stream ended with %s", f))
		return
	}
	done(out)
}

// streamFailed logs and sends an error event; false means the client is
// gone. Out of line, so that the log call's arguments are no part of the
// frame an open stream keeps (see logRequest in server).
//
//go:noinline
func (s *Server) streamFailed(ctx context.Context, out *sse.Writer, call *gateway.Call, e *stream.Error) bool {
	if e.Code == stream.CodeCancelled && ctx.Err() != nil {
		return false
	}
	s.log.Warn("openai: stream failed", "call", call.ID, "model", call.Model, "provider", call.Provider, "err", e)
	return out.Send("", errorEvent(e)) == nil
}

func (s *Server) writeStreamError(out *sse.Writer, e *stream.Error) {
	if out.Send("", errorEvent(e)) == nil {
		done(out)
	}
}

// done writes the [DONE] sentinel and flushes.
func done(out *sse.Writer) {
	if out.Send("", doneData) == nil {
		out.Flush()
	}
}

var doneData = []byte("[DONE]")

func errorEvent(e *stream.Error) []byte {
	b, _ := json.Marshal(ErrorResponse{Error: errorBody(e)})
	return b
}

// usageOf is the usage event's figures, or the gateway's own count when
// the stream carried none.
func usageOf(call *gateway.Call, u *stream.Usage) *stream.Usage {
	if u != nil {
		return u
	}
	sum := call.Summary().Usage
	if sum == (stream.Usage{}) {
		return nil
	}
	return &sum
}

// logprobsJSON is a choice's logprobs field: the joined object, or nil
// (null).
func logprobsJSON(lp stream.Logprobs) json.RawMessage {
	if lp == "" {
		return nil
	}
	return json.RawMessage(lp)
}

// wireTimings is the non-streamed answers' timings, when measured.
func wireTimings(u *stream.Usage) *Timings {
	if !hasTimings(u) {
		return nil
	}
	return timingsOf(u)
}

func wireUsage(u *stream.Usage) *Usage {
	if u == nil {
		return &Usage{}
	}
	w := &Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens()}
	if u.ReasoningTokens > 0 {
		w.CompletionTokensDetails = &CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens}
	}
	return w
}

// ListModels serves GET /v1/models.
func (s *Server) ListModels(w http.ResponseWriter, r *http.Request) {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return
	}
	models, err := s.gw.Models(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	list := ModelList{Object: "list", Data: make([]Model, 0, len(models))}
	for _, m := range models {
		list.Data = append(list.Data, wireModel(m))
	}
	writeJSON(w, http.StatusOK, list)
}

// GetModel serves GET /v1/models/{id}; ids may contain slashes
// ("mock/default").
func (s *Server) GetModel(w http.ResponseWriter, r *http.Request) {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return
	}
	id := r.PathValue("id")
	models, err := s.gw.Models(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	for _, m := range models {
		if m.ID == id {
			writeJSON(w, http.StatusOK, wireModel(m))
			return
		}
	}
	writeError(w, &stream.Error{Code: stream.CodeNotFound, Param: "model", Message: "The model '" + id + "' does not exist"})
}

func wireModel(m gateway.ModelInfo) Model {
	owner := m.OwnedBy
	if owner == "" {
		owner = m.Provider
	}
	if owner == "" {
		owner = "runnel"
	}
	var created int64
	if !m.Created.IsZero() {
		created = m.Created.Unix()
	}
	return Model{ID: m.ID, Object: "model", Created: created, OwnedBy: owner, NoStream: m.NoStream}
}

func withPrefix(prefix, id string) string {
	if strings.HasPrefix(id, prefix) {
		return id
	}
	return prefix + id
}
