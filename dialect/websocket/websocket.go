// Package websocket serves GET /ws/chat: a bidirectional chat protocol on one
// WebSocket connection, with several prompts streaming at once.
//
// The client sends JSON text messages:
//
//	{"type":"chat","id":"a","model":"…","messages":[…],"parameters":{…}}
//	{"type":"cancel","id":"a"}
//
// and the server answers with
//
//	{"type":"token","id":"a","text":"…","channel":"thinking"}   (channel only for thinking)
//	{"type":"tool_call","id":"a","index":0,"call_id":"…","name":"…","arguments":"…"}
//	{"type":"done","id":"a","usage":{…},"finish_reason":"stop"}
//	{"type":"error","id":"a","error":{"code":"…","message":"…"}}
//
// A prompt without an id gets one ("1", "2", …), echoed in its frames.
// Garbage gets an error frame and the connection stays usable; a client
// that sends more than a burst of messages faster than the rate allows is
// closed with 1008 (policy violation); a message over the read limit closes
// the connection with 1009 (message too big). The server pings the client
// to keep the connection alive and closes it when pongs stop.
//
// A browser cannot set headers on a WebSocket, so with auth on it connects
// with ?token=, a short-lived stream token from POST /api/v1/stream-tokens
// (see Options.Token), never a long-lived key in the URL.
package websocket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/stream"
)

// Options configure a Server.
type Options struct {
	// ReadLimit bounds one client message in bytes (dialect.DefaultBodyLimit
	// if 0).
	ReadLimit int64
	// MaxPrompts is how many prompts may stream at once on a connection
	// (8 if 0); more get an error frame.
	MaxPrompts int
	// Rate and Burst bound client messages: a token bucket of Burst
	// messages refilled at Rate per second (20 and 60 if 0). A client over
	// it is closed with a policy violation.
	Rate  float64
	Burst int
	// PingInterval is how often the server pings (30 s if 0, never if
	// negative); a ping unanswered within the interval closes the
	// connection.
	PingInterval time.Duration
	// OriginPatterns are the browser origins allowed besides the host's
	// own (see websocket.AcceptOptions); nil allows same-origin only.
	OriginPatterns []string
	// Token authenticates a connection that carries ?token=, a short-lived
	// stream token (browsers cannot set headers on a WebSocket): it
	// returns ctx carrying the token's caller, or an error for a token
	// that is malformed, forged or expired, answered with a 401 before the
	// upgrade. nil refuses every ?token=. The auth middleware lets such
	// requests through (IsTokenRoute); others authenticate as usual.
	Token func(ctx context.Context, token string) (context.Context, error)
	// Authorize, when set, checks the caller of a connection without a
	// token before the upgrade (an API key in a header, already read by
	// the auth middleware); an error is answered with a 401, so a client
	// without credentials learns it at once rather than on every prompt.
	Authorize func(ctx context.Context) error
}

// IsTokenRoute reports whether r is a GET of /ws/chat carrying a stream
// token, which the auth middleware should pass through unchecked: the
// Server checks the token itself.
func IsTokenRoute(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/ws/chat" && r.URL.Query().Has("token")
}

// Server serves /ws/chat on top of a gateway.
type Server struct {
	gw   dialect.Gateway
	opts Options
}

// NewServer returns a Server calling gw.
func NewServer(gw dialect.Gateway, opts Options) *Server {
	if opts.ReadLimit <= 0 {
		opts.ReadLimit = dialect.DefaultBodyLimit
	}
	if opts.MaxPrompts <= 0 {
		opts.MaxPrompts = 8
	}
	if opts.Rate <= 0 {
		opts.Rate = 20
	}
	if opts.Burst <= 0 {
		opts.Burst = 60
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 30 * time.Second
	}
	return &Server{gw: gw, opts: opts}
}

// Register adds GET /ws/chat to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ws/chat", s.serve)
}

// clientMessage is any message a client sends.
type clientMessage struct {
	Type     string        `json:"type"`
	ID       string        `json:"id"`
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	// Parameters are the native API's, applied as there.
	Parameters *native.Parameters `json:"parameters"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// conn is one client connection.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	ctx     context.Context
	mu      sync.Mutex
	prompts map[string]context.CancelFunc
	wg      sync.WaitGroup
	nextID  int
	closing bool // the server is shutting down: no new prompts (guarded by mu)

	tokens float64
	last   time.Time
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	base := r.Context()
	if q := r.URL.Query(); q.Has("token") {
		var err error
		if s.opts.Token == nil {
			err = errors.New("stream tokens are not accepted here")
		} else {
			base, err = s.opts.Token(base, q.Get("token"))
		}
		if err != nil {
			e := stream.Errorf(stream.CodeUnauthorized, "%v; get a new one from POST /api/v1/stream-tokens", err)
			e.Param = "token"
			writeUnauthorized(w, e)
			return
		}
	} else if e := dialect.Authorize(base, s.opts.Authorize); e != nil {
		writeUnauthorized(w, e)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.opts.OriginPatterns})
	if err != nil {
		return // Accept has answered the request
	}
	ws.SetReadLimit(s.opts.ReadLimit)
	ctx, cancel := context.WithCancel(base)
	c := &conn{s: s, ws: ws, ctx: ctx, prompts: map[string]context.CancelFunc{}, tokens: float64(s.opts.Burst), last: time.Now()}
	defer func() {
		cancel()
		c.wg.Wait()
		ws.CloseNow()
	}()
	if s.opts.PingInterval > 0 {
		go c.keepAlive()
	}
	// A read cancelled closes the connection: reads stop only once the
	// prompts have sent their last frames (a server shutting down says
	// so in an error frame).
	readCtx, stopReads := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReads()
	defer context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.wg.Wait()
		stopReads()
	})()
	for {
		typ, data, err := ws.Read(readCtx)
		if err != nil {
			return // closed by the client, over the read limit, or gone
		}
		if !c.allow() {
			ws.Close(websocket.StatusPolicyViolation, "too many messages")
			return
		}
		if typ != websocket.MessageText {
			c.sendError("", stream.Errorf(stream.CodeInvalidRequest, "binary messages are not supported; send JSON text"))
			continue
		}
		c.handle(data)
	}
}

// allow takes a token from the connection's bucket.
func (c *conn) allow() bool {
	now := time.Now()
	c.tokens += now.Sub(c.last).Seconds() * c.s.opts.Rate
	c.last = now
	if max := float64(c.s.opts.Burst); c.tokens > max {
		c.tokens = max
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *conn) keepAlive() {
	t := time.NewTicker(c.s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, c.s.opts.PingInterval)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.ws.Close(websocket.StatusPolicyViolation, "ping timeout")
				return
			}
		}
	}
}

func (c *conn) handle(data []byte) {
	var m clientMessage
	if !isJSONObject(data) {
		// Plain text (seeds 002 and 003 send the prompt as is): a prompt
		// for the default model, answered in token and done frames.
		m = clientMessage{Type: "chat", Messages: []chatMessage{{Role: stream.RoleUser, Content: string(data)}}}
	} else if err := json.Unmarshal(data, &m); err != nil {
		c.sendError("", stream.Errorf(stream.CodeInvalidRequest, "invalid JSON message: %v", err))
		return
	}
	switch m.Type {
	case "chat":
		c.chat(&m)
	case "cancel":
		c.mu.Lock()
		cancel, ok := c.prompts[m.ID]
		c.mu.Unlock()
		if !ok {
			c.sendError(m.ID, stream.InvalidParam("id", "no prompt %q is streaming", m.ID))
			return
		}
		cancel()
	case "":
		c.sendError(m.ID, stream.InvalidParam("type", `type is required: "chat" or "cancel"`))
	default:
		c.sendError(m.ID, stream.InvalidParam("type", `unknown message type %q: use "chat" or "cancel"`, m.Type))
	}
}

// isJSONObject reports whether a text message is meant as JSON: it starts,
// after white space, with "{". Anything else is a plain-text prompt.
func isJSONObject(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// toRequest converts a chat message; without a model it gets the server's
// default model.
func (m *clientMessage) toRequest() (*stream.Request, *stream.Error) {
	if len(m.Messages) == 0 {
		return nil, stream.InvalidParam("messages", "messages is required")
	}
	req := &stream.Request{Model: m.Model}
	for i, msg := range m.Messages {
		switch msg.Role {
		case stream.RoleSystem, stream.RoleUser, stream.RoleAssistant:
		default:
			return nil, stream.InvalidParam("messages", "messages[%d].role %q must be system, user or assistant", i, msg.Role)
		}
		req.Messages = append(req.Messages, stream.Message{Role: msg.Role, Content: msg.Content})
	}
	if err := m.Parameters.Apply(req); err != nil {
		return nil, err
	}
	return req, nil
}

func (c *conn) chat(m *clientMessage) {
	req, err := m.toRequest()
	if err != nil {
		c.sendError(m.ID, err)
		return
	}
	if !dialect.CanStream(c.s.gw, req.Model) {
		c.sendError(m.ID, dialect.NoStream(req.Model, "use POST /api/v1/generate"))
		return
	}
	c.mu.Lock()
	if m.ID == "" {
		for {
			c.nextID++
			m.ID = strconv.Itoa(c.nextID)
			if _, taken := c.prompts[m.ID]; !taken {
				break
			}
		}
	}
	if _, dup := c.prompts[m.ID]; dup {
		c.mu.Unlock()
		c.sendError(m.ID, stream.InvalidParam("id", "prompt %q is already streaming", m.ID))
		return
	}
	if c.closing {
		c.mu.Unlock()
		c.sendError(m.ID, stream.AsError(context.Cause(c.ctx)))
		return
	}
	if len(c.prompts) >= c.s.opts.MaxPrompts {
		c.mu.Unlock()
		c.sendError(m.ID, stream.Errorf(stream.CodeRateLimited, "at most %d prompts may stream at once on a connection", c.s.opts.MaxPrompts))
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.prompts[m.ID] = cancel
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		last := c.run(ctx, m.ID, req)
		// The id is free again before the client hears the prompt ended.
		c.mu.Lock()
		delete(c.prompts, m.ID)
		c.mu.Unlock()
		cancel()
		if last != nil {
			c.send(last)
		}
	}()
}

// run streams one prompt and returns its last frame (done or error), or nil
// when the connection is gone. Writes block while the client is slow, which
// stalls this prompt's provider and no other.
func (c *conn) run(ctx context.Context, id string, req *stream.Request) any {
	call, err := c.s.gw.Start(ctx, req)
	if err != nil {
		return errorFrameOf(id, stream.AsError(err))
	}
	defer call.Close()
	head := append([]byte(`{"type":"token","id":`), dialect.AppendJSONString(nil, id)...)
	head = append(head, `,"text":`...)
	buf := make([]byte, 0, 256)
	finish := stream.FinishStop
	var usage *stream.Usage
	for {
		ev, rerr := call.Recv()
		if rerr != nil {
			if rerr == io.EOF {
				break
			}
			ev = stream.ErrorEvent(stream.AsError(rerr))
		}
		switch ev.Kind {
		case stream.KindDelta:
			if ev.Channel == stream.Thinking && !req.Thinking {
				continue // reasoning goes only to clients that asked for it
			}
			b := append(buf[:0], head...)
			b = dialect.AppendJSONString(b, ev.Text)
			if ev.Channel == stream.Thinking {
				b = append(b, `,"channel":"thinking"`...)
			}
			buf = append(b, '}')
			if c.ws.Write(c.ctx, websocket.MessageText, buf) != nil {
				return nil
			}
		case stream.KindToolCall:
			tc := ev.ToolCall
			if c.send(toolCallFrame{Type: "tool_call", ID: id, Index: tc.Index, CallID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}) != nil {
				return nil
			}
		case stream.KindUsage:
			u := *ev.Usage
			usage = &u
		case stream.KindFinish:
			finish = ev.Finish
		case stream.KindError:
			if ev.Err.Code == stream.CodeCancelled {
				finish = stream.FinishCancelled
				break
			}
			return errorFrameOf(id, ev.Err)
		}
		if rerr != nil || finish == stream.FinishCancelled {
			break
		}
	}
	if ctx.Err() != nil && c.ctx.Err() == nil {
		finish = stream.FinishCancelled // cancelled by the client's cancel message
	}
	if usage == nil {
		u := call.Summary().Usage
		usage = &u
	}
	return doneFrame{Type: "done", ID: id, FinishReason: string(finish),
		Usage: usageFrame{InputTokens: usage.PromptTokens, OutputTokens: usage.CompletionTokens, TotalTokens: usage.TotalTokens()}}
}

type toolCallFrame struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Index     int    `json:"index"`
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type doneFrame struct {
	Type         string     `json:"type"`
	ID           string     `json:"id"`
	Usage        usageFrame `json:"usage"`
	FinishReason string     `json:"finish_reason"`
}

type usageFrame struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type errorFrame struct {
	Type  string    `json:"type"`
	ID    string    `json:"id,omitempty"`
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

func (c *conn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx := c.ctx
	if context.Cause(ctx) == dialect.ErrShuttingDown {
		// The server is closing the connection: the frame saying so
		// still goes out, on a short context of its own.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func errorFrameOf(id string, err *stream.Error) errorFrame {
	return errorFrame{Type: "error", ID: id, Error: errorBody{Code: string(err.Code), Message: err.Message, Param: err.Param}}
}

func (c *conn) sendError(id string, err *stream.Error) { c.send(errorFrameOf(id, err)) }

// writeUnauthorized refuses the upgrade with a 401 whose body is an error
// frame, so a client reads the same shape as on the connection.
func writeUnauthorized(w http.ResponseWriter, e *stream.Error) {
	b, _ := json.Marshal(errorFrameOf("", e))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(b)
}
