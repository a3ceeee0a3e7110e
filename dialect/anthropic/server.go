package anthropic

import (
	"context"
	"encoding/json"
	"io"
	"math"
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
	// KeepAlive is the silence after which a comment line is sent on a
	// stream (sse.DefaultKeepAlive if 0, none if negative).
	KeepAlive time.Duration
	// Authorize, when set, checks the caller of count_tokens before its
	// body is read (the gateway's admission, which checks the others,
	// then limits the count's rate).
	Authorize func(ctx context.Context) error
	// Resume serves the streams asked for with Runnel-Resumable: true (a
	// Resumer of its own, with no owners, if nil).
	Resume *dialect.Resumer
}

// Server serves Anthropic's Messages API on top of a gateway.
type Server struct {
	gw   dialect.Gateway
	opts Options
}

// NewServer returns a Server calling gw.
func NewServer(gw dialect.Gateway, opts Options) *Server {
	if opts.Resume == nil {
		opts.Resume = dialect.NewResumer(resume.Options{}, nil)
		opts.Resume.KeepAlive = opts.KeepAlive
	}
	opts.Resume.Register(kindMessages, dialect.Codec{WriteError: writeError, StreamError: func(out *sse.Writer, err *stream.Error) {
		(&encoder{sw: out, started: true}).fail(err)
	}})
	return &Server{gw: gw, opts: opts}
}

// kindMessages names this endpoint's resumable streams.
const kindMessages = "anthropic.messages"

// Register adds POST /v1/messages and POST /v1/messages/count_tokens to
// mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/messages", s.opts.Resume.Reconnects(kindMessages, s.messages))
	mux.HandleFunc("POST /v1/messages/count_tokens", s.countTokens)
}

// countTokens answers how many input tokens a Messages request takes, as
// its model's provider counts them (see gateway.PromptCounter): exact or
// refused, never estimated. Nothing is charged or recorded, as with the
// API's own endpoint.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return
	}
	var body CountTokensRequest
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, &body); err != nil {
		writeError(w, err)
		return
	}
	// The same validation and conversion as a Messages request's input;
	// max_tokens is not part of a count, so no bound comes from it.
	noLimit := math.MaxInt32
	req, err := (&MessagesRequest{Model: body.Model, MaxTokens: &noLimit, Messages: body.Messages, System: body.System,
		Tools: body.Tools, ToolChoice: body.ToolChoice, Thinking: body.Thinking}).toRequest()
	if err != nil {
		writeError(w, err)
		return
	}
	c, ok := s.gw.(dialect.TokenCounter)
	if !ok {
		writeError(w, stream.Errorf(stream.CodeUnsupported, "this server cannot count tokens"))
		return
	}
	n, cerr := c.CountTokens(r.Context(), req)
	if cerr != nil {
		writeError(w, stream.AsError(cerr))
		return
	}
	writeJSON(w, http.StatusOK, CountTokensResponse{InputTokens: &n})
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	var body scannedMessages
	mem, err := s.decode(w, r, &body)
	if err != nil {
		writeError(w, err)
		return
	}
	req, err := body.toRequest()
	if err != nil {
		writeError(w, err)
		return
	}
	if body.Stream && !dialect.CanStream(s.gw, req.Model) {
		writeError(w, dialect.NoStream(req.Model, `call again without "stream": true`))
		return
	}
	if dialect.Wants(r) {
		mem = nil // a resumable call's log keeps the request
	}
	start := func(ctx context.Context) (*gateway.Call, *stream.Error) {
		if mem != nil { // nothing here reads the texts once the call starts
			ctx = gateway.WithRequestMemory(ctx, mem)
		}
		call, err := s.gw.Start(ctx, req)
		if err != nil {
			return nil, stream.AsError(err)
		}
		return call, nil
	}
	if !body.Stream {
		answer(w, r, body.Model, start)
		return
	}
	// The encoder keeps the model's name, not the body: the messages are
	// no part of what an open stream holds (the gateway keeps what the
	// call's record needs).
	model := body.Model
	s.opts.Resume.Stream(w, r, kindMessages, dialect.Wants(r), sse.Options{KeepAlive: s.opts.KeepAlive, DeferFlush: true}, start,
		&encoder{w: w, model: model, streamed: true, index: -1})
}

// Encode runs a stream's call through e (dialect.Encoder): the encoder is
// made before the call starts, so the stream needs no closure of its own.
func (e *encoder) Encode(_ context.Context, out *sse.Writer, call *gateway.Call) {
	e.sw, e.id = out, call.ID
	run(e, call)
}

// answer answers a call in one piece. Out of line, so that its locals
// are no part of the frame above a stream (see server.Handler.ServeHTTP).
//
//go:noinline
func answer(w http.ResponseWriter, r *http.Request, model string, start func(ctx context.Context) (*gateway.Call, *stream.Error)) {
	call, err := start(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	defer call.Close()
	run(&encoder{w: w, model: model, id: call.ID, index: -1}, call)
}

// run writes call through e.
func run(e *encoder, call *gateway.Call) {
	if e.streamed {
		ok := e.start(call)
		defer e.sw.Close()
		if !ok {
			return
		}
	}
	var (
		u     stream.Usage // declared here, not in the loop, so not on the heap
		usage *stream.Usage
	)
	tok := call.TokenStream()
	for {
		if tok != nil && e.sent && e.open == "text" {
			// Plain tokens through every layer's token path
			// (stream.TokenStream), into the open text block, in a loop
			// of their own (no check of this one's a token); anything
			// else is Recv's, below. e.sw is set: e.sent says the call
			// streams.
			if !dialect.SendTokens(tok, e.sw, &e.text) {
				return
			}
		}
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
			e.sentFirst()
		case stream.KindToolCall:
			if !e.toolCall(ev.ToolCall) {
				return
			}
			e.sentFirst()
		case stream.KindUsage:
			u = *ev.Usage
			usage = &u
		case stream.KindError:
			e.fail(ev.Err)
			return
		case stream.KindFinish:
			e.finish, e.stopSeq = ev.Finish, ev.StopSequence()
		}
	}
	e.ended(call, usage)
}

// ended ends the stream with usage, or the call's own count. Out of line,
// as the call's summary is large: run's frame is under every flush.
//
//go:noinline
func (e *encoder) ended(call *gateway.Call, usage *stream.Usage) {
	if usage == nil {
		u := call.Summary().Usage
		usage = &u
	}
	e.end(*usage)
}

// decode decodes a Messages request: of the common shape with
// scanMessages, whose texts are views of the body that body then owns
// (from the pool when long: mem, see dialect.DecodeJSONPooled), else
// with encoding/json.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, body *scannedMessages) (mem *dialect.Body, _ *stream.Error) {
	mem, _, err := dialect.DecodeJSONPooled(w, r, s.opts.BodyLimit, &body.MessagesRequest, func(data []byte) bool {
		return scanMessagesInto(data, &body.MessagesRequest, &body.room)
	})
	return mem, err
}

// scannedMessages is a Messages request's body with room for its first
// turns and its max_tokens, which scanMessagesInto reads into: one
// allocation where the body (which escapes through DecodeJSONPooled), its
// turns and max_tokens were three.
type scannedMessages struct {
	MessagesRequest
	room messagesRoom
}

// toRequest validates the body as Anthropic does and converts it.
func (b *MessagesRequest) toRequest() (*stream.Request, *stream.Error) {
	if b.Model == "" {
		return nil, stream.InvalidParam("model", "model: Field required")
	}
	if b.MaxTokens == nil {
		return nil, stream.InvalidParam("max_tokens", "max_tokens: Field required")
	}
	if *b.MaxTokens < 1 {
		return nil, stream.InvalidParam("max_tokens", "max_tokens: must be greater than or equal to 1")
	}
	if len(b.Messages) == 0 {
		return nil, stream.InvalidParam("messages", "messages: at least one message is required")
	}
	if t := b.Temperature; t != nil && (*t < 0 || *t > 1) {
		return nil, stream.InvalidParam("temperature", "temperature: range: 0..1")
	}
	if p := b.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, stream.InvalidParam("top_p", "top_p: range: 0..1")
	}
	if k := b.TopK; k != nil && *k < 0 {
		return nil, stream.InvalidParam("top_k", "top_k: must be greater than or equal to 0")
	}
	for i, s := range b.StopSequences {
		if strings.TrimSpace(s) == "" {
			return nil, stream.InvalidParam("stop_sequences", "stop_sequences.%d: each stop sequence must contain non-whitespace", i)
		}
	}
	// Room for the usual turns, with the request in one allocation: a
	// system prompt and a message each (tool results add more).
	req := dialect.NewRequest(len(b.Messages) + 1)
	req.Model, req.Sampling = b.Model, stream.Sampling{
		MaxTokens: *b.MaxTokens, Temperature: b.Temperature, TopP: b.TopP, TopK: b.TopK, Stop: b.StopSequences,
	}
	if err := dialect.StreamLimits(req, b.BufferSize, b.TimeoutMs, ""); err != nil {
		return nil, err
	}
	if b.System != nil {
		text, err := joinText(b.System.Blocks, "system")
		if err != nil {
			return nil, err
		}
		if text != "" {
			req.Messages = append(req.Messages, stream.Message{Role: stream.RoleSystem, Content: text})
		}
	}
	for i, m := range b.Messages {
		if m.Role != stream.RoleUser && m.Role != stream.RoleAssistant {
			path := "messages." + strconv.Itoa(i)
			return nil, stream.InvalidParam(path+".role", "%s.role: Input should be 'user' or 'assistant'", path)
		}
		var err *stream.Error
		if req.Messages, err = convertMessage(req.Messages, m, i); err != nil {
			return nil, err
		}
	}
	for i, t := range b.Tools {
		if t.Name == "" {
			return nil, stream.InvalidParam("tools", "tools.%d.name: Field required", i)
		}
		req.Tools = append(req.Tools, stream.Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	if tc := b.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "none":
			req.ToolChoice = tc.Type
		case "any":
			req.ToolChoice = "required"
		case "tool":
			if tc.Name == "" {
				return nil, stream.InvalidParam("tool_choice.name", "tool_choice.name: Field required")
			}
			req.ToolChoice = tc.Name
		default:
			return nil, stream.InvalidParam("tool_choice.type", "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
		}
	}
	if th := b.Thinking; th != nil {
		switch th.Type {
		case "enabled":
			if th.BudgetTokens != 0 && th.BudgetTokens >= *b.MaxTokens {
				return nil, stream.InvalidParam("thinking.budget_tokens", "`max_tokens` must be greater than `thinking.budget_tokens`")
			}
			req.Thinking = true
		case "disabled":
		default:
			return nil, stream.InvalidParam("thinking.type", "thinking.type: Input should be 'enabled' or 'disabled'")
		}
	}
	if b.Metadata != nil && b.Metadata.UserID != "" {
		req.Metadata = map[string]string{"user_id": b.Metadata.UserID}
	}
	return req, nil
}

// convertMessage appends to out the Runnel messages of one Anthropic turn,
// messages[i]: tool_result blocks become tool turns, tool_use blocks the
// assistant's tool calls. The paths errors name are made only for them.
func convertMessage(out []stream.Message, m Message, i int) ([]stream.Message, *stream.Error) {
	var (
		main  = stream.Message{Role: m.Role}
		text  joined
		tools bool // a tool turn was added
	)
	for j, b := range m.Content.Blocks {
		switch b.Type {
		case "text":
			text.add(b.Text)
		case "thinking":
			if m.Role != stream.RoleAssistant {
				bp := blockPath(i, j)
				return nil, stream.InvalidParam(bp, "%s: thinking blocks are only allowed in assistant turns", bp)
			}
			main.Thinking += b.Thinking
		case "redacted_thinking":
		case "tool_use":
			if m.Role != stream.RoleAssistant {
				bp := blockPath(i, j)
				return nil, stream.InvalidParam(bp, "%s: tool_use blocks are only allowed in assistant turns", bp)
			}
			if b.ID == "" || b.Name == "" {
				bp := blockPath(i, j)
				return nil, stream.InvalidParam(bp, "%s: tool_use blocks need an id and a name", bp)
			}
			args := string(b.Input)
			if args == "" || args == "null" {
				args = "{}"
			}
			main.ToolCalls = append(main.ToolCalls, stream.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		case "tool_result":
			if m.Role != stream.RoleUser {
				bp := blockPath(i, j)
				return nil, stream.InvalidParam(bp, "%s: tool_result blocks are only allowed in user turns", bp)
			}
			if b.ToolUseID == "" {
				bp := blockPath(i, j)
				return nil, stream.InvalidParam(bp+".tool_use_id", "%s.tool_use_id: Field required", bp)
			}
			var content string
			if b.Content != nil {
				var err *stream.Error
				if content, err = joinText(b.Content.Blocks, blockPath(i, j)+".content"); err != nil {
					return nil, err
				}
			}
			out = append(out, stream.Message{Role: stream.RoleTool, ToolCallID: b.ToolUseID, Content: content})
			tools = true
		case "image", "document":
			bp := blockPath(i, j)
			return nil, stream.InvalidParam(bp, "%s: %s blocks are not supported", bp, b.Type)
		case "":
			bp := blockPath(i, j)
			return nil, stream.InvalidParam(bp+".type", "%s.type: Field required", bp)
		default:
			bp := blockPath(i, j)
			return nil, stream.InvalidParam(bp+".type", "%s.type: unknown content block type %q", bp, b.Type)
		}
	}
	main.Content = text.String()
	if main.Content != "" || main.Thinking != "" || len(main.ToolCalls) > 0 || !tools {
		out = append(out, main)
	}
	return out, nil
}

// blockPath names messages[i].content[j] in errors.
func blockPath(i, j int) string {
	return "messages." + strconv.Itoa(i) + ".content." + strconv.Itoa(j)
}

func joinText(blocks []Block, path string) (string, *stream.Error) {
	var text joined
	for j, b := range blocks {
		if b.Type != "text" {
			return "", stream.InvalidParam(path, "%s.%d: only text blocks are allowed here, not %q", path, j, b.Type)
		}
		text.add(b.Text)
	}
	return text.String(), nil
}

// joined is texts joined: the one text itself when there is one (often
// a prompt, a view of the body: see scanMessages), a copy only of
// several.
type joined struct {
	one string
	n   int
	sb  strings.Builder
}

func (j *joined) add(s string) {
	switch j.n {
	case 0:
		j.one = s
	case 1:
		j.sb.WriteString(j.one)
		fallthrough
	default:
		j.sb.WriteString(s)
	}
	j.n++
}

func (j *joined) String() string {
	if j.n <= 1 {
		return j.one
	}
	return j.sb.String()
}

// encoder writes one call as Anthropic's event sequence, or collects it for
// a whole message. Content blocks are opened as the channel changes.
type encoder struct {
	w        http.ResponseWriter
	sw       *sse.Writer // a streamed call's, given by Encode
	model    string
	id       string // the call's: the message's is "msg_" and it
	streamed bool
	started  bool // message_start sent
	sent     bool // the first token is out

	index    int    // current block, -1 before the first
	open     string // type of the open block, "" if none
	toolIdx  int    // stream tool-call index of the open tool_use block
	blocks   []Block
	finish   stream.FinishReason
	stopSeq  string        // the stop sequence that ended the stream, if any
	text     sse.TextEvent // the open text or thinking block's delta event, its lines in headBuf
	headBuf  [128]byte
	inputTok int
}

// event writes one SSE frame with its event: line and flushes it. data is
// JSON of one line (a literal, or json.Marshal's, which writes no raw
// line break), so it is not scanned for breaks (sse.Writer.SendLine).
func (e *encoder) event(name string, data []byte) bool {
	return e.sw != nil && e.sw.SendLine(name, data) == nil
}

func (e *encoder) jsonEvent(name string, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return e.event(name, data)
}

// start sends the headers (unless e.sw is a resumable stream's log),
// message_start and a first ping.
func (e *encoder) start(call *gateway.Call) bool {
	if !e.sendStart(call) {
		return false
	}
	// The headers and these two events leave now, from near the top of
	// the handler's stack (see sse.Options.DeferFlush).
	return e.sw.Flush() == nil
}

// sendStart is start but for the flush, out of line: the message and its
// JSON are no part of the frames above the first flush, where net/http
// writes the headers some 4 KiB deeper (see server.Handler.ServeHTTP).
//
//go:noinline
func (e *encoder) sendStart(call *gateway.Call) bool {
	inputTokens := call.Summary().Usage.PromptTokens
	e.sw.SetNames(clientNames)
	e.started = true
	e.inputTok = inputTokens
	if !e.appendEvent("message_start", func(b []byte) []byte { return appendMessageStart(b, e.id, e.model, inputTokens) }) {
		return false
	}
	return e.event("ping", []byte(`{"type":"ping"}`))
}

// clientNames are the stream's event names in the order a call sends
// them: the Writer changes to each by a compare, not by copying its line
// (seven changes a call).
var clientNames = sse.NewNames("message_start", "ping", "content_block_start", "content_block_delta",
	"content_block_stop", "message_delta", "message_stop", "error")

// appendMessageStart appends message_start's data for the call callID,
// the bytes json.Marshal writes (its strings by
// dialect.AppendMarshalledString), by appends (about a tenth of the
// instructions).
func appendMessageStart(b []byte, callID, model string, inputTokens int) []byte {
	// The id is "msg_" and the call's: the opening quote that
	// AppendMarshalledString writes for the call's becomes the prefix's
	// last byte (no joined string, no scan of the id but the one).
	b = append(b, `{"type":"message_start","message":{"id":"msg`...)
	n := len(b)
	b = dialect.AppendMarshalledString(b, callID)
	b[n] = '_'
	b = dialect.AppendMarshalledString(append(b, `,"type":"message","role":"assistant","model":`...), model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(inputTokens), 10)
	return append(b, `,"output_tokens":0}}}`...)
}

// sentFirst flushes the events of the first token at once: it never waits
// for coalescing (sse.Options.DeferFlush).
func (e *encoder) sentFirst() {
	if e.streamed && !e.sent {
		e.sent = true
		e.sw.Flush()
	}
}

func (e *encoder) message() MessageResponse {
	return MessageResponse{ID: "msg_" + e.id, Type: "message", Role: "assistant", Model: e.model, Content: []Block{}}
}

// openBlock stops the open block and starts b.
func (e *encoder) openBlock(b Block) bool {
	if !e.closeBlock() {
		return false
	}
	e.index++
	e.open = b.Type
	if !e.streamed {
		e.blocks = append(e.blocks, b)
		return true
	}
	if b.Type == "text" {
		e.deltaHead(b.Type)
		return e.rawStart(`{"type":"text","text":""}`)
	}
	if b.Type == "thinking" {
		e.deltaHead(b.Type)
		return e.rawStart(`{"type":"thinking","thinking":"","signature":""}`)
	}
	return e.jsonEvent("content_block_start", struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Block Block  `json:"content_block"`
	}{"content_block_start", e.index, b})
}

func (e *encoder) rawStart(block string) bool {
	return e.appendEvent("content_block_start", func(b []byte) []byte {
		b = strconv.AppendInt(append(b, `{"type":"content_block_start","index":`...), int64(e.index), 10)
		return append(append(append(b, `,"content_block":`...), block...), '}')
	})
}

func (e *encoder) closeBlock() bool {
	if e.open == "" {
		return true
	}
	e.open = ""
	if !e.streamed {
		return true
	}
	return e.appendEvent("content_block_stop", func(b []byte) []byte {
		return append(strconv.AppendInt(append(b, `{"type":"content_block_stop","index":`...), int64(e.index), 10), '}')
	})
}

// delta writes a text or thinking delta, opening a block of its type first
// if needed. This is the per-token path: the frame is the open block's
// head (made when it opened) and the text, appended straight into the SSE
// writer's buffer.
func (e *encoder) delta(ch stream.Channel, text string) bool {
	kind := "text"
	if ch == stream.Thinking {
		kind = "thinking"
	}
	if e.open != kind && !e.openBlock(Block{Type: kind}) {
		return false
	}
	if !e.streamed {
		b := &e.blocks[len(e.blocks)-1]
		if kind == "thinking" {
			b.Thinking += text
		} else {
			b.Text += text
		}
		return true
	}
	return e.appendDelta(text)
}

// appendDelta writes a delta of text in the open (streamed) block: its
// head, text and tail straight into the writer (sse.Writer.SendText).
func (e *encoder) appendDelta(text string) bool {
	return e.sw != nil && e.sw.SendText(&e.text, text) == nil
}

// appendEvent is event for data that data appends straight into the SSE
// writer's buffer (sse.Writer.SendAppend): JSON on one line, its strings
// escaped.
func (e *encoder) appendEvent(name string, data func(b []byte) []byte) bool {
	return e.sw != nil && e.sw.SendAppend(name, data) == nil
}

// deltaHead is what every delta event of the block just opened begins
// with, up to its text string: its event and data lines.
func (e *encoder) deltaHead(kind string) {
	const name = "content_block_delta"
	b := sse.TextLines(e.headBuf[:0], name)
	b = strconv.AppendInt(append(b, `{"type":"content_block_delta","index":`...), int64(e.index), 10)
	if kind == "thinking" {
		b = append(b, `,"delta":{"type":"thinking_delta","thinking":`...)
	} else {
		b = append(b, `,"delta":{"type":"text_delta","text":`...)
	}
	e.text = sse.TextEvent{Name: name, Lines: b, End: "}}\n\n"}
}

// toolCall maps an OpenAI-style tool-call delta: a new index opens a
// tool_use block, argument fragments become input_json_delta events.
func (e *encoder) toolCall(d *stream.ToolCallDelta) bool {
	if e.open != "tool_use" || e.toolIdx != d.Index {
		id := d.ID
		if id == "" {
			id = "toolu_" + strconv.Itoa(d.Index)
		}
		b := Block{Type: "tool_use", ID: id, Name: d.Name, Input: json.RawMessage("{}")}
		if !e.openBlock(b) {
			return false
		}
		e.toolIdx = d.Index
		if !e.streamed {
			e.blocks[len(e.blocks)-1].Input = nil
		}
	}
	if d.Arguments == "" {
		return true
	}
	if !e.streamed {
		b := &e.blocks[len(e.blocks)-1]
		b.Input = append(b.Input, d.Arguments...)
		return true
	}
	return e.appendEvent("content_block_delta", func(b []byte) []byte {
		b = strconv.AppendInt(append(b, `{"type":"content_block_delta","index":`...), int64(e.index), 10)
		b = append(b, `,"delta":{"type":"input_json_delta","partial_json":`...)
		b = dialect.AppendJSONString(b, d.Arguments)
		return append(b, "}}"...)
	})
}

func stopReason(f stream.FinishReason, stopSeq string) string {
	if stopSeq != "" {
		return "stop_sequence"
	}
	switch f {
	case stream.FinishLength:
		return "max_tokens"
	case stream.FinishToolCalls:
		return "tool_use"
	case stream.FinishContentFilter:
		return "refusal"
	}
	return "end_turn"
}

// end closes the message: message_delta and message_stop, or the whole
// message when not streamed.
func (e *encoder) end(u stream.Usage) {
	reason := stopReason(e.finish, e.stopSeq)
	if !e.streamed {
		for i := range e.blocks {
			b := &e.blocks[i]
			if b.Type != "tool_use" {
				continue
			}
			if len(b.Input) == 0 {
				b.Input = json.RawMessage("{}")
			}
			if !json.Valid(b.Input) || b.Input[0] != '{' {
				writeError(e.w, stream.Errorf(stream.CodeUpstream, "tool call %q has arguments that are not a JSON object", b.Name))
				return
			}
		}
		msg := e.message()
		if e.blocks != nil {
			msg.Content = e.blocks
		}
		r := reason // a copy, so that reason stays on the stack of streams
		msg.StopReason = &r
		if e.stopSeq != "" {
			msg.StopSequence = &e.stopSeq
		}
		msg.Usage = Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
		writeJSON(e.w, http.StatusOK, msg)
		return
	}
	if !e.closeBlock() {
		return
	}
	if !e.appendEvent("message_delta", func(b []byte) []byte {
		b = append(b, `{"type":"message_delta","delta":{"stop_reason":"`...)
		b = append(b, reason...)
		b = append(b, `","stop_sequence":`...)
		if e.stopSeq != "" {
			b = dialect.AppendJSONString(b, e.stopSeq)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `},"usage":{"input_tokens":`...)
		b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
		b = append(b, `,"output_tokens":`...)
		b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
		return append(b, "}}"...)
	}) {
		return
	}
	e.event("message_stop", []byte(`{"type":"message_stop"}`))
}

// fail reports an error: as a status before the stream started, else as an
// error event.
func (e *encoder) fail(err *stream.Error) {
	if err.Code == stream.CodeCancelled {
		return
	}
	if !e.started {
		writeError(e.w, err)
		return
	}
	_, typ := errorType(err.Code)
	e.jsonEvent("error", ErrorResponse{Type: "error", Error: ErrorDetail{Type: typ, Message: err.Message}})
}

// errorType gives Anthropic's status and error type for a code.
func errorType(code stream.Code) (int, string) {
	switch code {
	case stream.CodeInvalidRequest:
		return 400, "invalid_request_error"
	case stream.CodeUnauthorized:
		return 401, "authentication_error"
	case stream.CodeInsufficientCredit:
		return 402, "billing_error"
	case stream.CodeForbidden:
		return 403, "permission_error"
	case stream.CodeNotFound:
		return 404, "not_found_error"
	case stream.CodeTooLarge:
		return 413, "request_too_large"
	case stream.CodeUnsupported:
		return 422, "invalid_request_error"
	case stream.CodeRateLimited:
		return 429, "rate_limit_error"
	case stream.CodeOverloaded:
		return 529, "overloaded_error"
	case stream.CodeTimeout:
		return 504, "timeout_error"
	}
	return dialect.Status(code), "api_error"
}

// writeError writes Anthropic's error shape with its status.
func writeError(w http.ResponseWriter, err *stream.Error) {
	status, typ := errorType(err.Code)
	if err.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((err.RetryAfter+time.Second-1)/time.Second), 10))
	}
	writeJSON(w, status, ErrorResponse{Type: "error", Error: ErrorDetail{Type: typ, Message: err.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"type":"error","error":{"type":"api_error","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
