package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/internal/prefetch"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Config configures an upstream Provider.
type Config struct {
	// BaseURL is the API root including its version path, e.g.
	// "https://api.openai.com/v1" or "http://127.0.0.1:8000/v1".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer"; empty sends none.
	APIKey string
	// HTTPClient is used for every request; a client with a pooled
	// transport sized for many concurrent streams when nil. Its Timeout
	// must be 0 for streams to outlive it: the Timeouts control bounds them.
	HTTPClient *http.Client
	// Headers are added to every request (OpenAI-Organization, …).
	Headers map[string]string
	// Name is the provider's name in model listings ("openai" when empty).
	Name string
}

// Provider streams from an OpenAI-compatible upstream. It implements
// stream.Provider and gateway.ModelLister.
type Provider struct {
	cfg    Config
	base   string
	client *http.Client
	// streamHeader is every streamed call's request headers, one map
	// shared by all (net/http only reads a request's headers, and keeps
	// them for the whole stream): one map less per open stream. Cloned
	// per call when the client has a cookie jar, which adds to them.
	streamHeader http.Header
	// gzip: streamHeader asks for gzip in the transport's place (gzip.go).
	gzip bool
	// chat and completions are the streamed calls' endpoints (nil, with
	// urlErr, for a base URL that does not parse).
	chat, completions *dialect.Endpoint
	urlErr            error
}

// UpstreamWriteBuffer is the write buffer an upstream connection needs:
// it carries one request per call (headers and the start of the body; a
// longer body goes on unbuffered), yet every pooled connection holds it.
// Go's 4 KiB default keeps a page resident per open stream; 1 KiB costs
// at most one more write per call, for bodies of about 0.7 to 3.7 KiB.
const UpstreamWriteBuffer = 1024

// UpstreamReadBuffer is the read buffer an upstream connection needs:
// every streaming provider reads the body through a buffer of its own
// (the SSE or NDJSON reader's), so the connection's only joins chunked
// framing to reads; an open stream keeps it, and Go's 4 KiB default
// holds a page per stream. A read as long as the buffer bypasses it, and
// a header line longer than it is joined from several reads; a chunk
// size line may not be (net/http refuses one of 1 KiB, which no server
// sends).
const UpstreamReadBuffer = 1024

// NewProvider returns a Provider for cfg.
func NewProvider(cfg Config) *Provider {
	if cfg.Name == "" {
		cfg.Name = "openai"
	}
	client := cfg.HTTPClient
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// A gateway keeps many streams open to few hosts; the default of 2
		// idle connections per host would redial for most requests.
		t.MaxIdleConns = 0
		t.MaxIdleConnsPerHost = 1024
		t.WriteBufferSize = UpstreamWriteBuffer
		t.ReadBufferSize = UpstreamReadBuffer
		dialect.PoolBodyCopies(t)
		client = &http.Client{Transport: t}
	}
	p := &Provider{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), client: client}
	p.streamHeader = http.Header{}
	p.streamHeader.Set("Content-Type", "application/json")
	p.streamHeader.Set("Accept", "text/event-stream")
	p.setHeaders(p.streamHeader)
	if p.streamHeader.Get("Accept-Encoding") == "" && dialect.TransportGzips(client) {
		p.streamHeader.Set("Accept-Encoding", "gzip")
		p.gzip = true
	}
	p.chat, p.urlErr = dialect.NewEndpoint(client, dialect.JoinURL(cfg.BaseURL, "/chat/completions"), p.streamHeader)
	if p.urlErr == nil {
		p.completions, p.urlErr = dialect.NewEndpoint(client, dialect.JoinURL(cfg.BaseURL, "/completions"), p.streamHeader)
	}
	return p
}

// maxEvent bounds one upstream SSE event, so a garbage upstream cannot
// grow memory without limit.
const maxEvent = 4 << 20

// maxErrorBody caps how much of an upstream error answer is read.
const maxErrorBody = 64 << 10

// Stream starts a streamed call: /chat/completions, or /completions for a
// raw prompt with no messages. It returns once the upstream answered with
// its headers; a non-2xx answer is returned as a *stream.Error.
func (p *Provider) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	legacy := len(req.Messages) == 0 && (req.RawPrompt || req.Prompt != "")
	var (
		body *[]byte
		err  error
		ep   = p.chat
	)
	if legacy {
		ep = p.completions
		var b []byte
		b, err = json.Marshal(upstreamCompletion(req))
		body = &b
	} else {
		body, err = chatBody(req)
	}
	gateway.RequestEncoded(ctx) // req is read no more
	if err != nil {
		return nil, &stream.Error{Code: stream.CodeInvalidRequest, Message: "encoding the upstream request failed", Err: err}
	}
	if p.urlErr != nil {
		return nil, &stream.Error{Code: stream.CodeInternal, Message: "bad upstream URL for provider " + p.cfg.Name, Err: p.urlErr}
	}
	// Made first: the request is sent with its drain's context.
	s := &upstreamStream{ctx: ctx, legacy: legacy, provider: p.cfg.Name}
	resp, err := ep.PostIn(&s.hreq, s.drain.Context(ctx), body, UpstreamWriteBuffer)
	if err != nil {
		return nil, dialect.TransportError(ctx, p.cfg.Name, err)
	}
	if p.gzip {
		dialect.Gunzipped(resp)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, p.redact(upstreamError(resp.StatusCode, resp.Header, b))
	}
	s.body = resp.Body
	if wholeJSON(resp.Header["Content-Type"]) {
		// The upstream ignored stream: true and answered in one piece.
		s.whole = true
		s.read.Reset(ctx, resp.Body)
	} else {
		// The reader calls the BeforeWait function itself: no
		// dialect.BodyReader between it and the body, a call less a
		// token.
		s.ev.Init(resp.Body)
		s.events = &s.ev
		w := stream.BeforeWait(ctx)
		s.events.SetBeforeRead(w)
		dialect.WakesUp(w, s)
		s.events.SetMaxEventSize(maxEvent)
	}
	return s, nil
}

// wholeJSON reports whether an answer whose Content-Type header is ct
// (the transport's canonical key, looked up directly) is one JSON object:
// what the media type says, parsed only when it is not the event stream
// asked for (a parse allocates its parameters).
func wholeJSON(ct []string) bool {
	if len(ct) == 0 || strings.HasPrefix(ct[0], "text/event-stream") {
		return false
	}
	mt, _, _ := mime.ParseMediaType(ct[0])
	return mt == "application/json"
}

// NotifiesBeforeWait implements stream.WaitNotifier: every read of the
// upstream's body calls the context's BeforeWait function first.
func (p *Provider) NotifiesBeforeWait() bool { return true }

func (p *Provider) setHeaders(h http.Header) {
	if p.cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+p.cfg.APIKey)
	}
	for k, v := range p.cfg.Headers {
		h.Set(k, v)
	}
}

// redact removes the API key from an upstream's message: some upstreams
// echo the key they were given.
func (p *Provider) redact(e *stream.Error) *stream.Error {
	if p.cfg.APIKey != "" {
		e.Message = strings.ReplaceAll(e.Message, p.cfg.APIKey, "[redacted]")
	}
	return e
}

// Models lists the upstream's models (GET /models), with their IDs as the
// upstream knows them.
func (p *Provider) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, dialect.JoinURL(p.cfg.BaseURL, "/models"), nil)
	if err != nil {
		return nil, &stream.Error{Code: stream.CodeInternal, Message: "bad upstream URL for provider " + p.cfg.Name, Err: err}
	}
	hreq.Header.Set("Accept", "application/json")
	p.setHeaders(hreq.Header)
	resp, err := p.client.Do(hreq)
	if err != nil {
		return nil, dialect.TransportError(ctx, p.cfg.Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, dialect.TransportError(ctx, p.cfg.Name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, p.redact(upstreamError(resp.StatusCode, resp.Header, b))
	}
	var list ModelList
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, &stream.Error{Code: stream.CodeUpstream, Message: "upstream sent an invalid model list: " + clip(string(b)), Err: err}
	}
	out := make([]gateway.ModelInfo, 0, len(list.Data))
	for _, m := range list.Data {
		info := gateway.ModelInfo{ID: m.ID, Provider: p.cfg.Name, OwnedBy: m.OwnedBy}
		if m.Created > 0 {
			info.Created = time.Unix(m.Created, 0)
		}
		out = append(out, info)
	}
	return out, nil
}

// upstreamChat builds the upstream request: always streamed, always asking
// for usage.
func upstreamChat(req *stream.Request) *ChatRequest {
	c := &ChatRequest{Model: req.Model, Stream: true, StreamOptions: &StreamOptions{IncludeUsage: true}}
	c.Messages = make([]Message, len(req.Messages))
	for i, m := range req.Messages {
		w := Message{Role: m.Role, Name: m.Name, ToolCallID: m.ToolCallID}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			w.Content, _ = json.Marshal(m.Content)
		}
		for _, tc := range m.ToolCalls {
			w.ToolCalls = append(w.ToolCalls, ToolCall{ID: tc.ID, Type: "function", Function: ToolCallFunction{Name: tc.Name, Arguments: tc.Arguments}})
		}
		c.Messages[i] = w
	}
	s := req.Sampling
	if s.MaxTokens > 0 {
		c.MaxTokens = &s.MaxTokens
	}
	c.Temperature, c.TopP, c.Seed, c.TopK, c.MinP, c.RepetitionPenalty = s.Temperature, s.TopP, s.Seed, s.TopK, s.MinP, s.RepeatPenalty
	if len(s.Stop) > 0 {
		c.Stop, _ = json.Marshal(s.Stop)
	}
	for _, t := range req.Tools {
		c.Tools = append(c.Tools, Tool{Type: "function", Function: ToolFunction{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	c.ResponseFormat = wireFormat(req.ResponseFormat)
	if s.Logprobs {
		c.Logprobs = &s.Logprobs
		if s.TopLogprobs > 0 {
			c.TopLogprobs = &s.TopLogprobs
		}
	}
	switch req.ToolChoice {
	case "":
	case "none", "auto", "required":
		c.ToolChoice, _ = json.Marshal(req.ToolChoice)
	default:
		c.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": req.ToolChoice}})
	}
	return c
}

func upstreamCompletion(req *stream.Request) *CompletionRequest {
	c := &CompletionRequest{Model: req.Model, Stream: true, StreamOptions: &StreamOptions{IncludeUsage: true}}
	c.Prompt, _ = json.Marshal(req.Prompt)
	s := req.Sampling
	if s.MaxTokens > 0 {
		c.MaxTokens = &s.MaxTokens
	}
	c.Temperature, c.TopP, c.Seed, c.TopK, c.MinP = s.Temperature, s.TopP, s.Seed, s.TopK, s.MinP
	if len(s.Stop) > 0 {
		c.Stop, _ = json.Marshal(s.Stop)
	}
	c.ResponseFormat = wireFormat(req.ResponseFormat)
	if s.Logprobs {
		c.Logprobs = &s.TopLogprobs
	}
	return c
}

// wireFormat encodes response_format as OpenAI takes it, or nil.
func wireFormat(f *stream.ResponseFormat) json.RawMessage {
	if f == nil {
		return nil
	}
	b, _ := json.Marshal(dialect.WireResponseFormat(f))
	return b
}

// CanFormat implements gateway.FormatChecker: the request's
// response_format is forwarded, and the upstream decides. (Legacy
// /completions takes it on vLLM and llama.cpp; OpenAI itself refuses it
// there, which the client then sees.)
func (p *Provider) CanFormat(model string, t stream.FormatType) bool { return true }

// CanLogprobs implements gateway.LogprobsChecker: logprobs are forwarded
// and each chunk's come back on its delta.
func (p *Provider) CanLogprobs(model string) bool { return true }

// upstreamChunk is the part of a Chunk the provider reads: ids, model and
// timestamps are ignored, so an upstream that types them oddly still works.
type upstreamChunk struct {
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage"`
	Error   *ErrorBody    `json:"error"`
}

// upstreamStream reads an upstream's SSE answer one event per Recv, so the
// upstream only advances as the client reads (TCP backpressure), and Close
// closes the body, which cancels the upstream request.
type upstreamStream struct {
	ctx      context.Context
	provider string // for transport errors
	body     io.ReadCloser
	read     dialect.BodyReader // body, through the BeforeWait function, when whole (events reads it so itself)
	drain    dialect.Drain
	hreq     http.Request // as sent; net/http holds it as long as body
	events   *sse.Reader  // &ev, or nil when whole
	ev       sse.Reader
	legacy   bool
	whole    bool // body is one JSON answer, not SSE

	chunk upstreamChunk
	shape chunkShape // of the last per-token chunk (parseLiteBytes)
	queue []stream.Event
	qbuf  [4]stream.Event // a chunk rarely becomes more events than this
	ended bool            // no more reads from body
	// complete is set once the answer ended normally: Close may drain it.
	complete atomic.Bool
	finish   stream.FinishReason
	usage    *stream.Usage
	// usageBuf is where queueLite's usage lives: one allocation a call
	// less. end queues it once, after which nothing is read, so the
	// event's Usage never changes under its reader.
	usageBuf stream.Usage
	// heldLogprobs came on chunks without output text; they go with the
	// next output delta.
	heldLogprobs stream.Logprobs
	// token says RecvToken may read: nothing queued, not ended nor
	// whole, no logprobs held, the shape plain. Only Recv changes what
	// it sums up, so Recv sets it as it returns: one check a token in
	// RecvToken, where there were five.
	token bool
}

func (s *upstreamStream) Recv() (ev stream.Event, err error) {
	for {
		if len(s.queue) > 0 {
			ev = s.queue[0]
			s.queue = s.queue[1:]
			s.token = len(s.queue) == 0 && !s.ended && !s.whole && s.heldLogprobs == "" && s.shape.plain
			return ev, nil
		}
		if s.ended {
			s.token = false
			return stream.Event{}, io.EOF
		}
		s.queue = s.qbuf[:0]
		if s.whole {
			s.readWhole()
			continue
		}
		raw, rerr := s.events.NextRaw()
		if rerr != nil || string(raw.Data) == "[DONE]" {
			s.ending(rerr)
			continue
		}
		content, ok := s.shape.content(raw.Data)
		if ok && s.shape.plain && content != "" && s.heldLogprobs == "" {
			ev.Kind, ev.Channel, ev.Text = stream.KindDelta, stream.Output, content
			s.token = true // nothing queued, not ended nor whole
			return ev, nil // a token's chunk: stream.Delta(content)
		}
		s.take(raw.Data, raw.Event, content, ok)
	}
}

// Prefetch brings what a token's read touches into the cache (package
// prefetch, dialect.Prefetcher): the stream's token fields, and its
// chunk's shape with the bytes it compares.
func (s *upstreamStream) Prefetch() {
	prefetch.Fields(uintptr(unsafe.Pointer(s)), streamFields)
	s.shape.str.Prefetch()
}

// streamFields are the offsets in an upstreamStream of what RecvToken
// reads but its shape, in increasing order.
var streamFields = prefetch.Offsets(unsafe.Offsetof(upstreamStream{}.events), unsafe.Offsetof(upstreamStream{}.token))

// RecvToken is Recv for the commonest chunk (stream.TokenStream): one of
// the last plain shape whose content is plain (ASCII, nothing to
// unescape), as its content alone, matched as it is read
// (dialect.Shape.Token). Any other chunk, the end or an error is left to
// Recv, unread.
func (s *upstreamStream) RecvToken() (string, bool) {
	if !s.token {
		return "", false
	}
	return s.shape.str.Token(s.events)
}

// ending queues the stream's end: the read's error, or else [DONE]'s
// finish (stop, unless a chunk named another).
func (s *upstreamStream) ending(rerr error) {
	if rerr != nil {
		s.readFailed(rerr)
		return
	}
	if s.finish == "" {
		s.finish = stream.FinishStop
	}
	s.end()
}

// take queues the events of one chunk but a plain token's, which Recv
// returns itself (queueLite would queue just that delta and change
// nothing else): with the content of the last chunk's shape when shaped,
// else parsed in full. Out of line, so that the parsed chunk is no part
// of Recv's frame, which stays on an open stream's goroutine stack while
// it waits in NextRaw (see logRequest in server). event is the chunk's
// SSE type, recorded with its shape.
//
//go:noinline
func (s *upstreamStream) take(data []byte, event, content string, shaped bool) {
	if shaped {
		c := s.shape.chunk
		c.content = content
		s.queueLite(&c)
		return
	}
	s.shape.event = event
	if c, ok := parseLiteFull(data, &s.shape); ok {
		s.queueLite(&c)
	} else {
		s.decode(data)
	}
}

// Close closes the body. After a complete answer whose reads did not
// meet the end of the body, the drain reads the few bytes that may
// follow ([DONE], the end of the chunked body) on a goroutine of its own
// before it closes the body, so that the connection goes back to the
// pool instead of being closed (redialing the upstream would cost every
// next request a TCP handshake) without holding back the end of the
// call. An upstream that stalls there gets a second at most
// (dialect.Drain).
func (s *upstreamStream) Close() error {
	if !s.complete.Load() {
		return s.body.Close()
	}
	// Recv is done with the reader once the answer completed.
	if s.events != nil {
		s.events.Release()
	}
	s.drain.Close(s.body, s.read.EOF() || s.events != nil && s.events.SourceEOF())
	return nil
}

// fail queues an error and the finish that follows it.
func (s *upstreamStream) fail(e *stream.Error) {
	s.queue = append(s.queue, stream.ErrorEvent(e), stream.Finished(stream.FinishError))
	s.ended = true
}

// end queues the held usage and finish.
func (s *upstreamStream) end() {
	s.complete.Store(true)
	if s.usage != nil {
		s.queue = append(s.queue, stream.Event{Kind: stream.KindUsage, Usage: s.usage})
	}
	s.queue = append(s.queue, stream.Finished(s.finish))
	s.ended = true
}

func (s *upstreamStream) readFailed(err error) {
	if s.ctx.Err() != nil {
		s.queue = append(s.queue, stream.Finished(stream.FinishCancelled))
		s.ended = true
		return
	}
	if (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) && s.finish != "" {
		// Finished but no [DONE]: some servers omit it.
		s.end()
		return
	}
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		s.fail(&stream.Error{Code: stream.CodeUpstream, Message: "provider " + s.provider + ": the upstream closed the stream before it finished", Err: err})
	case errors.Is(err, sse.ErrTooLong):
		s.fail(&stream.Error{Code: stream.CodeUpstream, Message: "upstream sent an SSE event larger than 4 MiB", Err: err})
	default:
		s.fail(dialect.TransportError(s.ctx, s.provider, err))
	}
}

// queueLite turns a per-token chunk into events, as decode would.
func (s *upstreamStream) queueLite(c *liteChunk) {
	if c.reasoningContent != "" {
		s.pushDelta(stream.Thinking, c.reasoningContent)
	} else if c.reasoning != "" {
		s.pushDelta(stream.Thinking, c.reasoning)
	}
	out := -1
	if c.content != "" {
		out = s.pushDelta(stream.Output, c.content)
	}
	if s.legacy && c.text != "" {
		out = s.pushDelta(stream.Output, c.text)
	}
	if s.heldLogprobs != "" {
		s.attachLogprobs(nil, out)
	}
	if c.hasFinish && c.finish != "" {
		s.finish = streamFinish(c.finish)
	}
	if u := &c.usage; u.has {
		s.usageBuf = stream.Usage{PromptTokens: u.prompt, CompletionTokens: u.completion}
		s.usage = &s.usageBuf
		if u.hasDetails {
			s.usage.ReasoningTokens = u.reasoning
		}
		if s.finish != "" {
			// Usage comes after the finish chunk; nothing else follows.
			s.end()
		}
	}
}

// pushDelta queues a delta of text on ch and returns its index. Out of
// line: an Event's append inlined is some 250 bytes of code, and
// queueLite's four were most of the code lines a call's few chunks run
// through it.
//
//go:noinline
func (s *upstreamStream) pushDelta(ch stream.Channel, text string) int {
	s.queue = append(s.queue, stream.Event{Kind: stream.KindDelta, Channel: ch, Text: text})
	return len(s.queue) - 1
}

// decode turns one chunk into events with encoding/json.
func (s *upstreamStream) decode(data []byte) {
	ch := s.chunk.Choices[:cap(s.chunk.Choices)]
	clear(ch)
	s.chunk = upstreamChunk{Choices: ch[:0]}
	if err := json.Unmarshal(data, &s.chunk); err != nil {
		s.fail(&stream.Error{Code: stream.CodeUpstream, Message: "upstream sent an invalid chunk: " + clip(string(data)), Err: err})
		return
	}
	c := &s.chunk
	if c.Error != nil {
		msg := c.Error.Message
		if msg == "" {
			msg = "upstream reported an error"
		}
		s.fail(&stream.Error{Code: stream.CodeUpstream, Message: "upstream error: " + clip(msg)})
		return
	}
	for i := range c.Choices {
		choice := &c.Choices[i]
		if choice.Index != 0 {
			continue // Runnel asks for one choice
		}
		d := &choice.Delta
		if r := d.ReasoningContent; r != nil && *r != "" {
			s.queue = append(s.queue, stream.ThinkingDelta(*r))
		} else if r := d.Reasoning; r != nil && *r != "" {
			s.queue = append(s.queue, stream.ThinkingDelta(*r))
		}
		out := -1
		if d.Content != nil && *d.Content != "" {
			s.queue = append(s.queue, stream.Delta(*d.Content))
			out = len(s.queue) - 1
		}
		if s.legacy && choice.Text != "" {
			s.queue = append(s.queue, stream.Delta(choice.Text))
			out = len(s.queue) - 1
		}
		s.attachLogprobs(choice.Logprobs, out)
		for j := range d.ToolCalls {
			tc := &d.ToolCalls[j]
			idx := j
			if tc.Index != nil {
				idx = *tc.Index
			}
			s.queue = append(s.queue, stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{
				Index: idx, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments,
			}})
		}
		if choice.FinishReason != nil && *choice.FinishReason != "" {
			s.finish = streamFinish(*choice.FinishReason)
		}
	}
	if c.Usage != nil {
		s.usage = streamUsage(c.Usage)
		if s.finish != "" {
			// Usage comes after the finish chunk; nothing else follows.
			s.end()
		}
	}
}

// readWhole turns a non-streamed answer into events.
func (s *upstreamStream) readWhole() {
	b, err := io.ReadAll(io.LimitReader(&s.read, maxEvent))
	if err != nil {
		s.readFailed(err)
		return
	}
	var ans struct {
		Choices []struct {
			Index        int             `json:"index"`
			Text         string          `json:"text"`
			Message      ResponseMessage `json:"message"`
			FinishReason string          `json:"finish_reason"`
			Logprobs     json.RawMessage `json:"logprobs"`
		} `json:"choices"`
		Usage *Usage     `json:"usage"`
		Error *ErrorBody `json:"error"`
	}
	if err := json.Unmarshal(b, &ans); err != nil || (len(ans.Choices) == 0 && ans.Error == nil) {
		s.fail(&stream.Error{Code: stream.CodeUpstream, Message: "upstream sent an invalid answer: " + clip(string(b)), Err: err})
		return
	}
	if ans.Error != nil {
		s.fail(&stream.Error{Code: stream.CodeUpstream, Message: "upstream error: " + clip(ans.Error.Message)})
		return
	}
	c := ans.Choices[0]
	if c.Message.ReasoningContent != "" {
		s.queue = append(s.queue, stream.ThinkingDelta(c.Message.ReasoningContent))
	}
	text := c.Text
	if c.Message.Content != nil {
		text = *c.Message.Content
	}
	if text != "" {
		s.queue = append(s.queue, stream.Delta(text))
		s.attachLogprobs(c.Logprobs, len(s.queue)-1)
	}
	for i, tc := range c.Message.ToolCalls {
		s.queue = append(s.queue, stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{
			Index: i, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments,
		}})
	}
	s.finish = streamFinish(c.FinishReason)
	if ans.Usage != nil {
		s.usage = streamUsage(ans.Usage)
	}
	s.end()
}

// attachLogprobs puts a choice's raw logprobs (and any held ones) on the
// output delta queued at s.queue[i]; with none (i < 0) they are held for
// the next. JSON null is none.
func (s *upstreamStream) attachLogprobs(raw json.RawMessage, i int) {
	lp := s.heldLogprobs
	if len(raw) > 0 && string(raw) != "null" {
		lp = stream.JoinLogprobs(lp, stream.Logprobs(raw))
	}
	if lp == "" {
		return
	}
	if i < 0 {
		s.heldLogprobs = lp
		return
	}
	s.queue[i].SetLogprobs(lp)
	s.heldLogprobs = ""
}

func streamFinish(r string) stream.FinishReason {
	switch r {
	case "stop", "eos", "end_turn", "stop_sequence":
		return stream.FinishStop
	case "length", "max_tokens":
		return stream.FinishLength
	case "tool_calls", "function_call", "tool_use":
		return stream.FinishToolCalls
	case "content_filter":
		return stream.FinishContentFilter
	case "error":
		return stream.FinishError
	}
	return stream.FinishStop
}

func streamUsage(u *Usage) *stream.Usage {
	out := &stream.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	if u.CompletionTokensDetails != nil {
		out.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

var _ interface {
	stream.Provider
	gateway.ModelLister
} = (*Provider)(nil)

// String names the provider for logs, without its key.
func (p *Provider) String() string {
	return fmt.Sprintf("openai(%s %s)", p.cfg.Name, dialect.ShownURL(p.base))
}
