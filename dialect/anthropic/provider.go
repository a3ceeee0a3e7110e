package anthropic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// DefaultVersion is the anthropic-version header sent upstream.
const DefaultVersion = "2023-06-01"

// Config configures an upstream speaking the Messages API.
type Config struct {
	// BaseURL, e.g. https://api.anthropic.com (the default).
	BaseURL string
	APIKey  string
	// Version is the anthropic-version header (DefaultVersion if empty).
	Version string
	// Name of the provider in records and metrics ("anthropic" if empty).
	Name string
	// MaxTokens is sent when the request sets none, since the API requires
	// it (4096 if 0).
	MaxTokens int
	// ThinkingBudget is budget_tokens when thinking is asked for (1024, the
	// API's minimum, if 0).
	ThinkingBudget int
	// HTTPClient to use (http.DefaultClient if nil); it must have no Timeout.
	HTTPClient *http.Client
	// Counter estimates the tokens of an answer begun (prefill), which the
	// API bills as input, to count them as output instead, when the API's
	// count_tokens fails (gateway.ApproxCounter if nil); see prefill.go.
	Counter gateway.Counter
}

// Provider streams from /v1/messages. It implements stream.Provider.
type Provider struct {
	cfg Config
	// headers by Accept: one map per provider, not per request (net/http
	// only reads a request's headers, and keeps them for a stream's life)
	streamHeader, jsonHeader http.Header
	gzip                     bool // they ask for gzip, which post undoes

	mu        sync.Mutex
	noPrefill map[string]bool // models the API said refuse a prefill

	// messages is where streamed calls go: its URL parsed and its headers
	// made once, shared by all calls (nil, with urlErr, for a base URL
	// that does not parse).
	messages *dialect.Endpoint
	urlErr   error
}

// NewProvider returns a Provider for cfg.
func NewProvider(cfg Config) *Provider {
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.anthropic.com"
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Name == "" {
		cfg.Name = "anthropic"
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 4096
	}
	if cfg.ThinkingBudget <= 0 {
		cfg.ThinkingBudget = 1024
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Counter == nil {
		cfg.Counter = gateway.ApproxCounter{}
	}
	// Asking for gzip in the shared maps spares each request the map the
	// transport would add for it (see dialect.Gunzipped).
	p := &Provider{cfg: cfg, gzip: dialect.TransportGzips(cfg.HTTPClient)}
	p.streamHeader, p.jsonHeader = p.header("text/event-stream"), p.header("application/json")
	p.messages, p.urlErr = dialect.NewEndpoint(cfg.HTTPClient, dialect.JoinURL(cfg.BaseURL, "/v1/messages"), p.streamHeader)
	return p
}

func (p *Provider) header(accept string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", accept)
	h.Set("X-Api-Key", p.cfg.APIKey)
	h.Set("Anthropic-Version", p.cfg.Version)
	if p.gzip {
		h.Set("Accept-Encoding", "gzip")
	}
	return h
}

// CanFormat implements gateway.FormatChecker: the Messages API has no
// JSON mode this provider maps, so only free text; Stream refuses JSON
// formats rather than send a request that would ignore them.
func (p *Provider) CanFormat(model string, t stream.FormatType) bool { return t == stream.FormatText }

// NotifiesBeforeWait implements stream.WaitNotifier: a stream reads its
// body only through dialect.UpstreamStream.Events (an answer the prefix
// already completed reads none), so a dialect over it may write events
// unflushed until the upstream makes it wait.
func (p *Provider) NotifiesBeforeWait() bool { return true }

// Stream implements stream.Provider.
func (p *Provider) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	if req.ResponseFormat.IsJSON() {
		return nil, stream.FormatUnsupported(p.cfg.Name, req.ResponseFormat)
	}
	req, pf, err := p.withPrefill(ctx, req)
	if err != nil {
		return nil, err
	}
	if pf != nil && pf.complete {
		return dialect.PrefixAnswered(pf.prompt, pf.tokens), nil
	}
	body, err := p.body(req)
	gateway.RequestEncoded(ctx) // req's texts are read no more
	if err != nil {
		return nil, stream.Errorf(stream.CodeInvalidRequest, "anthropic: %v", err)
	}
	// No context of the stream's own: closing the body ends the request
	// (dialect.UpstreamStream), as the OpenAI provider's does, and a
	// context a call costs about 2k instructions and five allocations.
	e := new(events)
	us := dialect.NewTokenUpstream(ctx, nil, &e.d.text.str)
	resp, err := p.postStream(ctx, us.RequestContext(), &e.hreq, body)
	if err != nil {
		if pf != nil {
			p.refused(req.Model, err)
		}
		return nil, err
	}
	us.Begin(resp.Body, e)
	// The reader calls the BeforeWait function itself: no
	// dialect.BodyReader between it and the body, a call less a token.
	e.r = us.Events(maxEvent)
	e.r.SetNames(wireNames)
	us.Provider = p.cfg.Name
	if pf != nil {
		return pf.wrap(us), nil
	}
	return us, nil
}

// shortBody is the longest body sent with its headers in one write: the
// write buffer of config.UpstreamClient's connections (see
// dialect.NewUpstreamPost).
const shortBody = 1024

// post sends body to the API's path (as "/v1/messages/count_tokens") with the API's headers (header: the provider's
// map for an Accept); an answer of status 300 or more is returned as its
// error. A long body is let go of once sent (dialect.NewUpstreamPost).
func (p *Provider) post(ctx context.Context, path string, body []byte, header http.Header) (*http.Response, error) {
	hreq, sent, err := dialect.NewUpstreamPost(ctx, dialect.JoinURL(p.cfg.BaseURL, path), &body, shortBody)
	if err != nil {
		return nil, stream.Errorf(stream.CodeInternal, "anthropic: %v", err)
	}
	hreq.Header = header
	if p.cfg.HTTPClient.Jar != nil {
		hreq.Header = header.Clone() // the jar's cookies are added to it
	}
	resp, err := p.cfg.HTTPClient.Do(hreq)
	sent.Release()
	return p.answer(ctx, resp, err)
}

// postStream is post of a streamed call's body to /v1/messages, through
// the endpoint made once (see Provider.messages), with the request's
// context rctx (the stream's, dialect.Drain.Context), the request made in
// *hreq (dialect.Endpoint.PostIn); errors are worded with the call's, ctx.
func (p *Provider) postStream(ctx, rctx context.Context, hreq *http.Request, body *[]byte) (*http.Response, error) {
	if p.urlErr != nil {
		return nil, stream.Errorf(stream.CodeInternal, "anthropic: %v", p.urlErr)
	}
	resp, err := p.messages.PostIn(hreq, rctx, body, shortBody)
	return p.answer(ctx, resp, err)
}

// answer is post's result: an answer of status 300 or more is returned
// as its error.
func (p *Provider) answer(ctx context.Context, resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return nil, dialect.TransportError(ctx, p.cfg.Name, err)
	}
	if p.gzip {
		dialect.Gunzipped(resp)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

func statusError(resp *http.Response) *stream.Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var er ErrorResponse
	msg, code := strings.TrimSpace(string(b)), dialect.UpstreamCode(resp.StatusCode)
	if json.Unmarshal(b, &er) == nil && er.Error.Message != "" {
		msg = er.Error.Message
		if c, ok := codeOf(er.Error.Type); ok {
			code = c
		}
	}
	if msg == "" {
		msg = resp.Status
	}
	e := &stream.Error{Code: code, Message: "anthropic: " + msg, UpstreamStatus: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// codeOf maps Anthropic's error types to codes.
func codeOf(typ string) (stream.Code, bool) {
	switch typ {
	case "invalid_request_error":
		return stream.CodeInvalidRequest, true
	case "authentication_error":
		return stream.CodeUnauthorized, true
	case "permission_error":
		return stream.CodeForbidden, true
	case "billing_error":
		return stream.CodeInsufficientCredit, true
	case "not_found_error":
		return stream.CodeNotFound, true
	case "request_too_large":
		return stream.CodeTooLarge, true
	case "rate_limit_error":
		return stream.CodeRateLimited, true
	case "overloaded_error":
		return stream.CodeOverloaded, true
	case "timeout_error":
		return stream.CodeTimeout, true
	case "api_error":
		return stream.CodeUpstream, true
	}
	return "", false
}

// upstreamRequest builds the Messages request for req.
func (p *Provider) upstreamRequest(req *stream.Request) *MessagesRequest {
	maxTokens := req.Sampling.MaxTokens
	if maxTokens <= 0 {
		maxTokens = p.cfg.MaxTokens
	}
	out := &MessagesRequest{Model: req.Model, Stream: true, StopSequences: req.Sampling.Stop,
		Temperature: req.Sampling.Temperature, TopP: req.Sampling.TopP, TopK: req.Sampling.TopK}
	if req.Thinking {
		// The API wants max_tokens above the budget and no temperature.
		out.Thinking = &ThinkingConfig{Type: "enabled", BudgetTokens: p.cfg.ThinkingBudget}
		if maxTokens <= p.cfg.ThinkingBudget {
			maxTokens += p.cfg.ThinkingBudget
		}
		out.Temperature, out.TopK, out.TopP = nil, nil, nil
	}
	out.MaxTokens = &maxTokens
	var system []string
	msgs := req.Messages
	if len(msgs) == 0 {
		msgs = []stream.Message{{Role: stream.RoleUser, Content: req.Prompt}}
	}
	for _, m := range msgs {
		var blocks []Block
		role := m.Role
		switch m.Role {
		case stream.RoleSystem:
			system = append(system, m.Content)
			continue
		case stream.RoleTool:
			role = stream.RoleUser
			blocks = append(blocks, Block{Type: "tool_result", ToolUseID: m.ToolCallID, Content: &Content{Blocks: []Block{{Type: "text", Text: m.Content}}}})
		default:
			if m.Content != "" {
				blocks = append(blocks, Block{Type: "text", Text: m.Content})
			}
			for _, tc := range m.ToolCalls {
				input := json.RawMessage(tc.Arguments)
				if !json.Valid(input) {
					input = json.RawMessage("{}")
				}
				blocks = append(blocks, Block{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: input})
			}
		}
		// Consecutive turns of one role merge, as the API wants them to
		// alternate (tool results following each other, for instance).
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content.Blocks = append(out.Messages[n-1].Content.Blocks, blocks...)
			continue
		}
		if blocks == nil {
			blocks = []Block{{Type: "text", Text: ""}}
		}
		out.Messages = append(out.Messages, Message{Role: role, Content: Content{Blocks: blocks}})
	}
	if len(system) > 0 {
		s := TextContent(strings.Join(system, "\n\n"))
		out.System = &s
	}
	for _, t := range req.Tools {
		schema := t.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, Tool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	switch req.ToolChoice {
	case "":
	case "auto", "none":
		out.ToolChoice = &ToolChoice{Type: req.ToolChoice}
	case "required":
		out.ToolChoice = &ToolChoice{Type: "any"}
	default:
		out.ToolChoice = &ToolChoice{Type: "tool", Name: req.ToolChoice}
	}
	if req.Metadata["user_id"] != "" {
		out.Metadata = &struct {
			UserID string `json:"user_id,omitempty"`
		}{req.Metadata["user_id"]}
	}
	return out
}

// maxEvent bounds one upstream SSE event.
const maxEvent = 4 << 20

// wireNames are the Messages stream's event names, those NextRaw reads
// on a call's usual path first (the fixed events' shapes take the rest):
// the reader makes none of them a string (an allocation each, two a
// call).
var wireNames = []string{"message_start", "message_delta", "content_block_delta", "content_block_start",
	"content_block_stop", "message_stop", "ping", "error"}

// events is a streamed call's reading side, in one allocation: the SSE
// reader over its body (which calls the context's BeforeWait function,
// dialect.UpstreamStream.Events) and the decoder. It is the stream's
// dialect.EventReader itself (no method value to allocate); its
// decoder's text shape is the stream's token path (dialect.TokenUpstream).
type events struct {
	r    *sse.Reader
	d    Decoder
	hreq http.Request // as sent; net/http holds it as long as the body
}

// ReadEvents decodes the next SSE event.
func (e *events) ReadEvents() (evs []stream.Event, err error) {
	for e.d.want != 0 && len(evs) == 0 && err == nil {
		var ok bool
		if evs, ok, err = e.fixed(); !ok {
			break
		}
	}
	if len(evs) == 0 && err == nil {
		// Raw: Decode copies what it keeps out of the reader's buffer.
		ev, rerr := e.r.NextRaw()
		if rerr == io.EOF {
			return nil, stream.Errorf(stream.CodeUpstream, "anthropic: stream ended before message_stop")
		}
		if rerr != nil {
			return nil, rerr // a transport error, worded by UpstreamStream
		}
		evs, err = e.d.Decode(ev.Event, ev.Data)
	}
	if finishes(evs) {
		// The stream reads no more (dialect.UpstreamStream): the reader's
		// buffer goes back to the pool for the next call rather than to
		// the collector (it releases itself only at the body's end, which
		// a finished stream's reads never reach).
		e.r.Release()
	}
	return evs, err
}

// finishes says whether evs end the stream.
func finishes(evs []stream.Event) bool {
	for i := range evs {
		if evs[i].Kind == stream.KindFinish {
			return true
		}
	}
	return false
}

// Decoder turns Messages stream events into Runnel events. Its zero value
// is ready; one Decoder serves one stream.
type Decoder struct {
	usage      stream.Usage
	stopReason string
	stopSeq    string      // with stopReason "stop_sequence"
	tools      map[int]int // content block index → tool-call index
	text       textShape   // of the last text delta
	one        [1]stream.Event
	end        [2]stream.Event // message_stop's
	final      stream.Usage    // what end's usage event points to
	want       fixedSet        // the fixed events ReadEvents tries next
	// lite is the general path's (decode), made when a stream first
	// needs it: callEvent and the text shape read the usual streams'
	// events, and an open stream need not hold its 520 bytes.
	lite *liteEvent
}

// Decode decodes one SSE event (name and data). It does not keep data; the
// events it returns are valid until its next call.
func (d *Decoder) Decode(name string, data []byte) ([]stream.Event, error) {
	if name == "ping" || len(data) == 0 {
		return nil, nil
	}
	if text, ok := d.text.parse(name, data); ok {
		return d.delta(text), nil
	}
	if evs, ok := d.callEvent(name, data); ok {
		return evs, nil
	}
	return d.decode(name, data)
}

// decode is Decode's general path: any event, parsed by liteEvent.parse
// or else by encoding/json.
func (d *Decoder) decode(name string, data []byte) ([]stream.Event, error) {
	if d.lite == nil {
		d.lite = new(liteEvent)
	}
	textAt, ok := d.lite.parse(data)
	if !ok {
		ev, err := unmarshalEvent(name, data)
		if err != nil {
			return nil, err
		}
		return d.events(ev)
	}
	ev := &d.lite.ev
	if ev.Type == "" {
		ev.Type = name
	}
	if textAt >= 0 && ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
		d.text.set(name, data, textAt)
	}
	return d.events(ev)
}

// unmarshalEvent decodes an event's data with encoding/json: the events
// liteEvent.parse does not take. Out of line, and events too: encoding/json
// runs about 1 KiB of stack a level of nesting, and under Decode's frame
// it would grow the request goroutine's stack further, for as long as the
// stream lasts (docs/benchmarks.md, issue 13).
//
//go:noinline
func unmarshalEvent(name string, data []byte) (*StreamEvent, error) {
	ev := new(StreamEvent)
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, stream.Errorf(stream.CodeUpstream, "anthropic: bad %s event: %v", name, err)
	}
	if ev.Type == "" {
		ev.Type = name
	}
	return ev, nil
}

// events is what ev says, once decoded.
//
//go:noinline
func (d *Decoder) events(ev *StreamEvent) ([]stream.Event, error) {
	switch ev.Type {
	case "message_start":
		d.want = wantPing | wantStart
		if ev.Message != nil {
			d.setStartUsage(ev.Message.Usage)
		}
	case "content_block_start":
		b := ev.ContentBlock
		if b == nil {
			return nil, stream.Errorf(stream.CodeUpstream, "anthropic: content_block_start without a content_block")
		}
		switch b.Type {
		case "text":
			if b.Text != "" {
				return []stream.Event{stream.Delta(b.Text)}, nil
			}
		case "thinking":
			if b.Thinking != "" {
				return []stream.Event{stream.ThinkingDelta(b.Thinking)}, nil
			}
		case "tool_use":
			if d.tools == nil {
				d.tools = map[int]int{}
			}
			i := len(d.tools)
			d.tools[ev.Index] = i
			out := []stream.Event{{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: i, ID: b.ID, Name: b.Name}}}
			if in := string(b.Input); in != "" && in != "{}" && in != "null" {
				out[0].ToolCall.Arguments = in
			}
			return out, nil
		}
	case "content_block_delta":
		if ev.Delta == nil {
			return nil, stream.Errorf(stream.CodeUpstream, "anthropic: content_block_delta without a delta")
		}
		switch ev.Delta.Type {
		case "text_delta":
			return d.delta(ev.Delta.Text), nil
		case "thinking_delta":
			return []stream.Event{stream.ThinkingDelta(ev.Delta.Thinking)}, nil
		case "input_json_delta":
			i, ok := d.tools[ev.Index]
			if !ok {
				return nil, stream.Errorf(stream.CodeUpstream, "anthropic: input_json_delta for block %d, which is not a tool_use block", ev.Index)
			}
			if ev.Delta.PartialJSON == "" {
				return nil, nil
			}
			return []stream.Event{{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: i, Arguments: ev.Delta.PartialJSON}}}, nil
		}
	case "message_delta":
		d.want = wantStop
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			d.stopReason = ev.Delta.StopReason
			if ev.Delta.StopSequence != nil {
				d.stopSeq = *ev.Delta.StopSequence
			}
		}
		if u := ev.Usage; u != nil {
			d.usage.CompletionTokens = u.OutputTokens
			if in := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens; in > 0 {
				d.usage.PromptTokens = in
			}
		}
	case "message_stop":
		return d.stop(), nil
	case "error":
		msg, code := "unknown error", stream.CodeUpstream
		if ev.Error != nil {
			msg = ev.Error.Message
			if c, ok := codeOf(ev.Error.Type); ok {
				code = c
			}
		}
		return []stream.Event{stream.ErrorEvent(&stream.Error{Code: code, Message: "anthropic: " + msg}), stream.Finished(stream.FinishError)}, nil
	}
	return nil, nil
}

// stop is message_stop's events, the usage and the finish, in d's own
// slice and usage: nothing reads the stream after its finish, so they are
// not overwritten.
func (d *Decoder) stop() []stream.Event {
	fin := stream.Finished(finishReason(d.stopReason))
	if d.stopReason == "stop_sequence" && d.stopSeq != "" {
		fin = stream.StoppedBy(d.stopSeq)
	}
	d.final = d.usage
	d.end = [2]stream.Event{{Kind: stream.KindUsage, Usage: &d.final}, fin}
	return d.end[:]
}

// delta is a text delta in d's own slice: one allocation a token fewer.
func (d *Decoder) delta(text string) []stream.Event {
	d.one[0] = stream.Delta(text)
	return d.one[:]
}

func finishReason(r string) stream.FinishReason {
	switch r {
	case "max_tokens":
		return stream.FinishLength
	case "tool_use":
		return stream.FinishToolCalls
	case "refusal":
		return stream.FinishContentFilter
	}
	return stream.FinishStop
}

// textShape is a stream's last text delta without its text: the event's
// name, the bytes before and after the text string, and where they meet.
// Every text delta of a stream is the same event with another string, so
// one whose other bytes are the same is a text delta of that string:
// comparing the ends and reading the string replaces parsing the whole
// event.
type textShape struct {
	name    string
	str     dialect.Shape // in endsBuf when it fits: no allocation a stream
	texts   dialect.Texts // the texts parse returned, out of the reader's buffer
	endsBuf [128]byte     // the event's lines: its name's and data's
}

// set records the shape of data, a text delta event that liteEvent.parse
// took, whose text came from the string at at.
func (t *textShape) set(name string, data []byte, at int) {
	if !t.str.Has() {
		t.str.Buffer(t.endsBuf[:])
	}
	t.str.Set(name, data, at, jsonStringEnd(data, at))
	t.name = name
}

// parse returns the text of data if it is the recorded event with another
// text string.
func (t *textShape) parse(name string, data []byte) (string, bool) {
	if name != t.name {
		return "", false
	}
	str, ok := t.str.String(data)
	if !ok {
		return "", false
	}
	if raw := unsafe.String(unsafe.SliceData(str), len(str)); dialect.PlainString(raw) {
		return t.texts.Keep(raw[1 : len(raw)-1]), true // raw is the reader's buffer
	}
	// Escapes or non-ASCII: decoded as encoding/json decodes a field,
	// which also refuses anything but one string.
	var text string
	if json.Unmarshal(str, &text) != nil {
		return "", false
	}
	return text, true
}

// jsonStringEnd is the index just past the JSON string that begins at
// data[at], or -1.
func jsonStringEnd(data []byte, at int) int {
	if at >= len(data) || data[at] != '"' {
		return -1
	}
	for j := at + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}
