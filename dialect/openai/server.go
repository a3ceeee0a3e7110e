package openai

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
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
}

// Server serves OpenAI's chat completions, completions and models API over
// a gateway.
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
	return &Server{gw: gw, opts: opts, log: log}
}

// Register mounts the OpenAI endpoints on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/chat/completions", s.ChatCompletions)
	mux.HandleFunc("POST /v1/completions", s.Completions)
	mux.HandleFunc("GET /v1/models", s.ListModels)
	mux.HandleFunc("GET /v1/models/{id...}", s.GetModel)
}

// Resumable streams' kinds: a stream resumes only where it started.
const (
	kindChat        = "openai.chat"
	kindCompletions = "openai.completions"
)

// ChatCompletions serves POST /v1/chat/completions.
func (s *Server) ChatCompletions(w http.ResponseWriter, r *http.Request) {
	if ok, err := s.opts.Resume.Reconnect(w, r, kindChat); ok {
		if err != nil {
			writeError(w, err)
		}
		return
	}
	var body ChatRequest
	st := s.begin(w, r, &body, kindChat)
	if st.call == nil {
		return
	}
	call := st.call
	id := withPrefix("chatcmpl-", call.ID)
	if body.Stream {
		s.stream(w, r, st, newChunkEncoder(id, body.Model, call.Started.Unix(), false))
		return
	}
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
		ID: id, Object: "chat.completion", Created: call.Started.Unix(), Model: body.Model,
		Choices: []ChatChoice{{Message: msg, FinishReason: reason, Logprobs: logprobsJSON(res.Logprobs)}},
		Usage:   wireUsage(usageOf(call, res.Usage)),
		Timings: wireTimings(res.Usage),
	})
}

// Completions serves POST /v1/completions.
func (s *Server) Completions(w http.ResponseWriter, r *http.Request) {
	if ok, err := s.opts.Resume.Reconnect(w, r, kindCompletions); ok {
		if err != nil {
			writeError(w, err)
		}
		return
	}
	var body CompletionRequest
	st := s.begin(w, r, &body, kindCompletions)
	if st.call == nil {
		return
	}
	call := st.call
	id := withPrefix("cmpl-", call.ID)
	if body.Stream {
		s.stream(w, r, st, newChunkEncoder(id, body.Model, call.Started.Unix(), true))
		return
	}
	defer call.Close()
	res := stream.Collect(call)
	if res.Err != nil {
		writeError(w, res.Err)
		return
	}
	reason, _ := finishReason(res.Finish)
	writeJSON(w, http.StatusOK, TextCompletion{
		ID: id, Object: "text_completion", Created: call.Started.Unix(), Model: body.Model,
		Choices: []TextChoice{{Text: res.Text, FinishReason: reason, Logprobs: logprobsJSON(res.Logprobs)}},
		Usage:   wireUsage(usageOf(call, res.Usage)),
		Timings: wireTimings(res.Usage),
	})
}

// started is a call begin started; the caller must close it.
type started struct {
	req  *stream.Request
	call *gateway.Call
	sess *resume.Session // when resumable
	ctx  context.Context // the call's: r's, or detached from it if resumable
	out  *waitFlush      // flushes the response's writer when the call waits
}

// waitFlush is a call's stream.BeforeWait function: it flushes the SSE
// writer, once there is one, so that events written unflushed leave before
// the call waits for its upstream.
type waitFlush struct{ w atomic.Pointer[sse.Writer] }

func (f *waitFlush) flush() {
	if w := f.w.Load(); w != nil {
		w.Flush()
	}
}

// begin decodes and validates body and starts its call. On failure it has
// answered with the error and returns a nil call.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, body interface {
	ToRequest() (*stream.Request, error)
	streamed() bool
}, kind string) started {
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, body); err != nil {
		writeError(w, err)
		return started{}
	}
	req, err := body.ToRequest()
	if err != nil {
		writeError(w, err)
		return started{}
	}
	if body.streamed() && !dialect.CanStream(s.gw, req.Model) {
		writeError(w, dialect.NoStream(req.Model, `call again with "stream": false`))
		return started{}
	}
	sess, ctx, serr := s.opts.Resume.Begin(r, kind, body.streamed() && dialect.Wants(r))
	if serr != nil {
		writeError(w, serr)
		return started{}
	}
	var wf *waitFlush
	startCtx := ctx
	if sess == nil && body.streamed() {
		wf = new(waitFlush)
		startCtx = stream.WithBeforeWait(ctx, wf.flush)
	}
	call, err := s.start(startCtx, req)
	if err != nil {
		if sess != nil {
			sess.Discard()
		}
		writeError(w, err)
		return started{}
	}
	return started{req: req, call: call, sess: sess, ctx: ctx, out: wf}
}

// start starts the call; an unknown model is reported on the model param,
// as OpenAI does.
func (s *Server) start(ctx context.Context, req *stream.Request) (*gateway.Call, error) {
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

// stream writes st's call as SSE (through its session's log, if
// resumable) and closes it.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, st started, enc *chunkEncoder) {
	if st.sess != nil {
		s.opts.Resume.Run(w, r, st.sess, func(out *sse.Writer) {
			defer st.call.Close()
			s.events(st.ctx, out, st.call, enc, st.req.IncludeUsage)
		})
		return
	}
	defer st.call.Close()
	// Events the upstream sent together leave in one write when the call
	// flushes before it waits (gateway.Call.FlushOnWait); else one each.
	deferFlush := st.out != nil && st.call.FlushOnWait
	out := sse.NewWriter(w, sse.Options{KeepAlive: s.opts.KeepAlive, OmitIDs: s.opts.OmitEventIDs, DeferFlush: deferFlush})
	defer out.Close()
	if deferFlush {
		st.out.w.Store(out)
	}
	s.events(st.ctx, out, st.call, enc, st.req.IncludeUsage)
}

// events writes call's events, one event and one flush per stream event,
// then [DONE]. ctx is the call's: once it is done, nobody is listening.
func (s *Server) events(ctx context.Context, out *sse.Writer, call *gateway.Call, enc *chunkEncoder, includeUsage bool) {
	var (
		usage   *stream.Usage
		errSent bool
	)
	for {
		ev, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			e := stream.AsError(err)
			if e.Code == stream.CodeCancelled && ctx.Err() != nil {
				return // the client is gone; nobody to tell
			}
			s.writeStreamError(out, e)
			return
		}
		var data []byte
		switch ev.Kind {
		case stream.KindDelta:
			data = enc.Delta(ev.Channel, ev.Text, ev.Logprobs())
		case stream.KindToolCall:
			data = enc.ToolCall(ev.ToolCall)
		case stream.KindUsage:
			usage = ev.Usage
		case stream.KindFinish:
			reason, ok := finishReason(ev.Finish)
			if !ok {
				if ev.Finish == stream.FinishCancelled && ctx.Err() != nil {
					return
				}
				// An error event normally came before this finish.
				if !errSent {
					s.writeStreamError(out, stream.Errorf(stream.CodeUpstream, "the stream ended with %s", ev.Finish))
					return
				}
				done(out)
				return
			}
			data = enc.Finish(reason, usage)
		case stream.KindError:
			if ev.Err.Code == stream.CodeCancelled && ctx.Err() != nil {
				return
			}
			s.log.Warn("openai: stream failed", "call", call.ID, "model", call.Model, "provider", call.Provider, "err", ev.Err)
			errSent = true
			if err := out.Send("", errorEvent(ev.Err)); err != nil {
				return
			}
		}
		if data != nil {
			if err := out.Send("", data); err != nil {
				return // client gone; Close cancels the upstream
			}
		}
	}
	if includeUsage {
		if u := usageOf(call, usage); u != nil {
			if out.Send("", enc.Usage(u)) != nil {
				return
			}
		}
	}
	done(out)
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
	return Model{ID: m.ID, Object: "model", Created: created, OwnedBy: owner}
}

func withPrefix(prefix, id string) string {
	if strings.HasPrefix(id, prefix) {
		return id
	}
	return prefix + id
}
