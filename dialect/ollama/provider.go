package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// Config configures an upstream Ollama.
type Config struct {
	// BaseURL of the Ollama server, e.g. http://127.0.0.1:11434.
	BaseURL string
	// Name of the provider in records and metrics ("ollama" if empty).
	Name string
	// HTTPClient to use (http.DefaultClient if nil). Its Timeout must be
	// zero: streams last as long as generation does.
	HTTPClient *http.Client
	// Header is added to every request (e.g. Authorization for a proxy).
	Header http.Header
}

// Provider streams from Ollama's native /api/chat (or /api/generate for
// raw prompts). It implements stream.Provider, gateway.ModelLister and
// gateway.Continuer.
type Provider struct {
	cfg Config
	// ndjsonHeader and jsonHeader are the headers of a streamed request
	// and of one answered whole, made once (net/http only reads a
	// request's headers): per call, two Sets and a copy of cfg.Header.
	ndjsonHeader, jsonHeader http.Header
	// streamed and whole are /api/chat's and /api/generate's endpoints
	// with those headers, their URLs joined to the base URL and parsed
	// once (nil, with urlErr, for a base URL that does not parse).
	streamed, whole endpoints
	urlErr          error
	tagsURL         string

	mu     sync.Mutex
	probes map[string]*probe // by model: does its template continue an answer begun
}

// NewProvider returns a Provider for the Ollama at cfg.BaseURL.
func NewProvider(cfg Config) *Provider {
	if cfg.Name == "" {
		cfg.Name = "ollama"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	p := &Provider{cfg: cfg, ndjsonHeader: requestHeader(cfg.Header, "application/x-ndjson"), jsonHeader: requestHeader(cfg.Header, "application/json"),
		tagsURL: dialect.JoinURL(cfg.BaseURL, "/api/tags")}
	p.streamed, p.urlErr = p.endpoints(p.ndjsonHeader)
	if p.urlErr == nil {
		p.whole, p.urlErr = p.endpoints(p.jsonHeader)
	}
	return p
}

// endpoints are Ollama's two generating endpoints, called with header.
type endpoints struct{ chat, generate *dialect.Endpoint }

func (p *Provider) endpoints(header http.Header) (e endpoints, err error) {
	if e.chat, err = dialect.NewEndpoint(p.cfg.HTTPClient, dialect.JoinURL(p.cfg.BaseURL, pathChat), header); err != nil {
		return e, err
	}
	e.generate, err = dialect.NewEndpoint(p.cfg.HTTPClient, dialect.JoinURL(p.cfg.BaseURL, pathGenerate), header)
	return e, err
}

// at is path's endpoint (pathChat or pathGenerate).
func (e *endpoints) at(path string) *dialect.Endpoint {
	if path == pathGenerate {
		return e.generate
	}
	return e.chat
}

// The paths of Ollama's generating endpoints.
const (
	pathChat     = "/api/chat"
	pathGenerate = "/api/generate"
)

// requestHeader is the headers of a request to Ollama whose answer is
// accept.
func requestHeader(configured http.Header, accept string) http.Header {
	h := configured.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", accept)
	return h
}

// shortBody is the longest body sent with its headers in one write (see
// dialect.NewUpstreamPost).
const shortBody = 1024

// maxLine bounds one NDJSON line from upstream.
const maxLine = 4 << 20

// lineBuffer is the reader's buffer, which an open stream keeps: a
// chunk's line is a few hundred bytes, and a longer one is joined from
// several reads (lineReader). It was 16 KiB, four pages a stream.
const lineBuffer = 1 << 10

// NotifiesBeforeWait implements stream.WaitNotifier: a stream reads its
// body only through its lineReader, which calls the stream's BeforeWait
// function before every read (an answer the prefix already completed
// reads none), so a dialect over it may write events unflushed until the
// upstream makes it wait.
func (p *Provider) NotifiesBeforeWait() bool { return true }

// Stream implements stream.Provider. It returns once Ollama answered with
// its headers; an error status becomes a *stream.Error. A request whose
// last message is the assistant's answer begun is continued (see
// continue.go).
func (p *Provider) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	req, pf, err := p.withPrefill(ctx, req)
	if err != nil {
		return nil, err
	}
	if pf != nil && pf.complete {
		return dialect.PrefixAnswered(pf.prompt, pf.tokens), nil
	}
	path, body, err := upstreamBody(req, sendAs{prefill: pf != nil})
	if err != nil {
		return nil, err
	}
	// No context of the stream's own: closing the body ends the request
	// (dialect.UpstreamStream), as the OpenAI and Anthropic providers'
	// streams do, without a context's allocations a call.
	us := dialect.NewUpstreamStream(ctx, nil, nil, nil)
	resp, err := p.post(ctx, us.RequestContext(), p.streamed.at(path), body)
	if err != nil {
		return nil, err
	}
	c := new(chunks)
	us.Begin(resp.Body, c)
	c.r.init(resp.Body, us.ReadsBody(&c.r.rerr))
	us.Provider = p.cfg.Name
	if pf != nil {
		return &dialect.Prefilled{Stream: us, WS: pf.ws, Tokens: pf.tokens}, nil
	}
	return us, nil
}

// post sends *body, which it takes over (dialect.Endpoint.Post gives
// its buffer back to the pool), to ep (of p.streamed or p.whole) with the
// request's context rctx (ctx, or a stream's: dialect.Drain.Context), and
// returns its answer if the status is a success; else the error as a
// *stream.Error, worded with ctx. The caller closes the body; cancelling
// ctx ends the request.
func (p *Provider) post(ctx, rctx context.Context, ep *dialect.Endpoint, body *[]byte) (*http.Response, error) {
	if p.urlErr != nil {
		dialect.PutBuffer(body)
		return nil, stream.Errorf(stream.CodeInternal, "ollama: %v", p.urlErr)
	}
	resp, err := ep.Post(rctx, body, shortBody)
	if err != nil {
		return nil, dialect.TransportError(ctx, p.cfg.Name, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

// statusError turns an error answer into a *stream.Error, keeping Ollama's
// message.
func statusError(resp *http.Response) *stream.Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var er ErrorResponse
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &er) == nil && er.Error != "" {
		msg = er.Error
	}
	if msg == "" {
		msg = resp.Status
	}
	e := &stream.Error{Code: dialect.UpstreamCode(resp.StatusCode), Message: "ollama: " + msg, UpstreamStatus: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// CanFormat implements gateway.FormatChecker: Ollama constrains its output
// to JSON or to a schema (format), so every format is forwarded.
func (p *Provider) CanFormat(model string, t stream.FormatType) bool { return true }

// sendAs says how upstreamBody sends a request.
type sendAs struct {
	// prefill: the last message is an answer begun, which Ollama continues
	// with thinking off (think is sent as false: Ollama turns it on for a
	// thinking model that is not told).
	prefill bool
	// count: only for the prompt's token count (prompt_eval_count): one
	// token, not streamed, no format.
	count bool
}

// chunks is a stream's reading side: the NDJSON lines of its body.
type chunks struct {
	r     lineReader
	calls int // tool calls are numbered across lines
}

// ReadEvents decodes the next line. Its last call (an error, or a line that
// ends the stream: dialect.UpstreamStream calls it no more) gives the
// reader's buffer back to the pool: nothing reads it after, and the events
// do not point into it (DecodeChunk copies what it keeps). A stream
// closed before its end leaves its buffer to the collector, since a read
// may still be under way.
func (c *chunks) ReadEvents() ([]stream.Event, error) {
	evs, err := c.decode()
	if err != nil || len(evs) > 0 && evs[len(evs)-1].Kind == stream.KindFinish {
		c.r.release()
	}
	return evs, err
}

func (c *chunks) decode() ([]stream.Event, error) {
	line, err := c.r.next()
	if err == io.EOF {
		return nil, stream.Errorf(stream.CodeUpstream, "ollama: stream ended without a final object")
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil
	}
	var evs []stream.Event
	evs, c.calls, err = DecodeChunk(line, c.calls)
	return evs, err
}

// DecodeChunk decodes one line of an Ollama chat or generate stream into
// events. calls is the number of tool calls seen so far on the stream (they
// are numbered across lines); the new count is returned. The final line
// yields a Usage and a Finish event; an {"error"} line an Error and a
// Finish(error). A line of text (scanLine's) is read without encoding/json.
func DecodeChunk(line []byte, calls int) ([]stream.Event, int, error) {
	if c, ok := scanLine(line); ok {
		content := c.response
		if c.hasMessage {
			content = c.msgContent
		}
		return c.m.end(textEvents(pick(c.msgThinking, c.thinking), content), c.done, calls), calls, nil
	}
	return decodeJSON(line, calls)
}

// decodeJSON is DecodeChunk by encoding/json: any line.
func decodeJSON(line []byte, calls int) ([]stream.Event, int, error) {
	var c Chunk
	if err := json.Unmarshal(line, &c); err != nil {
		return nil, calls, stream.Errorf(stream.CodeUpstream, "ollama: bad NDJSON line: %v", err)
	}
	if c.Error != "" {
		return []stream.Event{stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "ollama: %s", c.Error)), stream.Finished(stream.FinishError)}, calls, nil
	}
	thinking, content := c.Thinking, ""
	if c.Response != nil {
		content = *c.Response
	}
	if m := c.Message; m != nil {
		content = m.Content
		thinking = pick(m.Thinking, thinking)
	}
	evs := textEvents(thinking, content)
	if m := c.Message; m != nil {
		for _, tc := range m.ToolCalls {
			args := string(tc.Function.Arguments)
			if args == "" || args == "null" {
				args = "{}"
			}
			id := tc.ID
			if id == "" {
				id = fmt.Sprintf("call_%d", calls)
			}
			evs = append(evs, stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: calls, ID: id, Name: tc.Function.Name, Arguments: args}})
			calls++
		}
	}
	return c.Metrics.end(evs, c.Done, calls), calls, nil
}

// pick is s, or else if s is empty.
func pick(s, orElse string) string {
	if s != "" {
		return s
	}
	return orElse
}

// textEvents is a line's thinking and content, those not empty.
func textEvents(thinking, content string) []stream.Event {
	var evs []stream.Event
	if thinking != "" {
		evs = append(evs, stream.ThinkingDelta(thinking))
	}
	if content != "" {
		evs = append(evs, stream.Delta(content))
	}
	return evs
}

// end appends, to the events of a line that is done, its usage and its
// finish, with calls tool calls made on the stream.
func (m *Metrics) end(evs []stream.Event, done bool, calls int) []stream.Event {
	if !done {
		return evs
	}
	evs = append(evs, stream.UsageEvent(stream.Usage{
		PromptTokens: m.PromptEvalCount, CompletionTokens: m.EvalCount,
		PromptDuration: time.Duration(m.PromptEvalDuration), GenerationDuration: time.Duration(m.EvalDuration),
	}))
	finish := stream.FinishStop
	switch {
	case m.DoneReason == "length":
		finish = stream.FinishLength
	case calls > 0:
		finish = stream.FinishToolCalls
	}
	return append(evs, stream.Finished(finish))
}

// Models lists the upstream's models from /api/tags.
func (p *Provider) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, p.tagsURL, nil)
	if err != nil {
		return nil, stream.Errorf(stream.CodeInternal, "ollama: %v", err)
	}
	for k, v := range p.cfg.Header {
		hreq.Header[k] = v
	}
	resp, err := p.cfg.HTTPClient.Do(hreq)
	if err != nil {
		return nil, stream.AsError(fmt.Errorf("ollama: listing models: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, statusError(resp)
	}
	var list ListResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list); err != nil {
		return nil, stream.Errorf(stream.CodeUpstream, "ollama: bad /api/tags answer: %v", err)
	}
	out := make([]gateway.ModelInfo, 0, len(list.Models))
	for _, m := range list.Models {
		name := m.Name
		if name == "" {
			name = m.Model
		}
		out = append(out, gateway.ModelInfo{ID: name, Provider: p.cfg.Name, OwnedBy: "ollama", Created: m.ModifiedAt})
	}
	return out, nil
}
