// Package gemini is an upstream Provider for Google's Gemini API:
// models/{model}:streamGenerateContent?alt=sse, with the key in
// x-goog-api-key. Thought parts (thought: true) go to the thinking channel,
// function calls become tool calls and usageMetadata becomes usage.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Config configures the Gemini provider.
type Config struct {
	// BaseURL, https://generativelanguage.googleapis.com/v1beta by default.
	BaseURL string
	APIKey  string
	// Name of the provider in records and metrics ("gemini" if empty).
	Name string
	// HTTPClient to use (http.DefaultClient if nil); it must have no Timeout.
	HTTPClient *http.Client
}

// Provider streams from Gemini. It implements stream.Provider and
// gateway.ModelLister.
type Provider struct {
	cfg  Config
	gzip bool
	// streams and counts are the models' streamGenerateContent and
	// countTokens endpoints, their URLs joined to the base URL once
	// around the model's name (see modelURL). Their header maps are
	// every call's (net/http only reads a request's headers, and keeps
	// them for a stream's life); a stream's asks for gzip in the
	// transport's place when gzip is set.
	streams, counts endpoints
	modelsURL       string
}

// NewProvider returns a Provider for cfg.
func NewProvider(cfg Config) *Provider {
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://generativelanguage.googleapis.com/v1beta"
	}
	if cfg.Name == "" {
		cfg.Name = "gemini"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	p := &Provider{cfg: cfg, gzip: dialect.TransportGzips(cfg.HTTPClient),
		modelsURL: dialect.JoinURL(cfg.BaseURL, "/models?pageSize=1000")}
	p.streams.head, p.streams.tail = modelURL(cfg.BaseURL, ":streamGenerateContent?alt=sse")
	p.counts.head, p.counts.tail = modelURL(cfg.BaseURL, ":countTokens")
	p.counts.header = http.Header{}
	p.counts.header.Set("Content-Type", "application/json")
	p.counts.header.Set("X-Goog-Api-Key", cfg.APIKey)
	p.streams.header = p.counts.header.Clone()
	p.streams.header.Set("Accept", "text/event-stream")
	if p.gzip {
		p.streams.header.Set("Accept-Encoding", "gzip")
	}
	return p
}

// shortBody is the longest body sent with its headers in one write: the
// write buffer of config.UpstreamClient's connections (see
// dialect.NewUpstreamPost).
const shortBody = 1024

// Request is the body of generateContent and streamGenerateContent.
type Request struct {
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
}

// Content is one turn: role "user" or "model".
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is a piece of content.
type Part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`
}

// FunctionCall is a whole call; Gemini does not stream arguments.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse answers a call.
type FunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// GenerationConfig holds sampling controls.
type GenerationConfig struct {
	MaxOutputTokens int             `json:"maxOutputTokens,omitempty"`
	Temperature     *float64        `json:"temperature,omitempty"`
	TopP            *float64        `json:"topP,omitempty"`
	TopK            *int            `json:"topK,omitempty"`
	Seed            *int64          `json:"seed,omitempty"`
	StopSequences   []string        `json:"stopSequences,omitempty"`
	ThinkingConfig  *ThinkingConfig `json:"thinkingConfig,omitempty"`
	// ResponseMimeType "application/json" asks for JSON output, and
	// ResponseJSONSchema (a plain JSON Schema, unlike responseSchema's
	// OpenAPI subset) constrains it.
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
}

// ThinkingConfig asks for thought summaries.
type ThinkingConfig struct {
	IncludeThoughts bool `json:"includeThoughts"`
}

// Tool declares functions.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations"`
}

// FunctionDeclaration is one function the model may call.
type FunctionDeclaration struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolConfig says how functions may be called.
type ToolConfig struct {
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig"`
}

// Response is one streamed chunk (and a whole generateContent answer).
type Response struct {
	Candidates []struct {
		Content      Content `json:"content"`
		FinishReason string  `json:"finishReason"`
		Index        int     `json:"index"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		ThoughtsTokenCount   int `json:"thoughtsTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	ModelVersion string    `json:"modelVersion"`
	Error        *APIError `json:"error"`
}

// APIError is Google's error shape: {"error": {"code", "message", "status"}}.
type APIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// upstreamRequest builds the Gemini request for req.
func upstreamRequest(req *stream.Request) (*Request, error) {
	out := &Request{GenerationConfig: &GenerationConfig{
		MaxOutputTokens: req.Sampling.MaxTokens, Temperature: req.Sampling.Temperature,
		TopP: req.Sampling.TopP, TopK: req.Sampling.TopK, Seed: req.Sampling.Seed, StopSequences: req.Sampling.Stop,
	}}
	if req.Thinking {
		out.GenerationConfig.ThinkingConfig = &ThinkingConfig{IncludeThoughts: true}
	}
	if f := req.ResponseFormat; f.IsJSON() {
		out.GenerationConfig.ResponseMimeType = "application/json"
		if f.Type == stream.FormatJSONSchema {
			out.GenerationConfig.ResponseJSONSchema = f.Schema
		}
	}
	msgs := req.Messages
	if len(msgs) == 0 {
		msgs = []stream.Message{{Role: stream.RoleUser, Content: req.Prompt}}
	}
	callNames := map[string]string{} // tool call id → function name, for responses
	var system []string
	for _, m := range msgs {
		var c Content
		switch m.Role {
		case stream.RoleSystem:
			system = append(system, m.Content)
			continue
		case stream.RoleAssistant:
			c.Role = "model"
			if m.Content != "" {
				c.Parts = append(c.Parts, Part{Text: m.Content})
			}
			for _, tc := range m.ToolCalls {
				args := json.RawMessage(tc.Arguments)
				if len(args) == 0 {
					args = json.RawMessage("{}")
				}
				if !json.Valid(args) {
					return nil, stream.InvalidParam("messages", "tool call %q arguments are not valid JSON", tc.Name)
				}
				callNames[tc.ID] = tc.Name
				c.Parts = append(c.Parts, Part{FunctionCall: &FunctionCall{ID: tc.ID, Name: tc.Name, Args: args}})
			}
		case stream.RoleTool:
			c.Role = "user"
			name := m.Name
			if name == "" {
				name = callNames[m.ToolCallID]
			}
			resp, _ := json.Marshal(map[string]string{"result": m.Content})
			if json.Valid([]byte(m.Content)) && strings.HasPrefix(strings.TrimSpace(m.Content), "{") {
				resp = []byte(m.Content)
			}
			c.Parts = append(c.Parts, Part{FunctionResponse: &FunctionResponse{ID: m.ToolCallID, Name: name, Response: resp}})
		default:
			c.Role = "user"
			c.Parts = append(c.Parts, Part{Text: m.Content})
		}
		if len(c.Parts) == 0 {
			c.Parts = []Part{{Text: ""}}
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == c.Role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, c.Parts...)
			continue
		}
		out.Contents = append(out.Contents, c)
	}
	if len(system) > 0 {
		out.SystemInstruction = &Content{Parts: []Part{{Text: strings.Join(system, "\n\n")}}}
	}
	if len(req.Tools) > 0 {
		var t Tool
		for _, tl := range req.Tools {
			t.FunctionDeclarations = append(t.FunctionDeclarations, FunctionDeclaration{Name: tl.Name, Description: tl.Description, Parameters: tl.Parameters})
		}
		out.Tools = []Tool{t}
	}
	if req.ToolChoice != "" {
		tc := &ToolConfig{}
		switch req.ToolChoice {
		case "auto":
			tc.FunctionCallingConfig.Mode = "AUTO"
		case "none":
			tc.FunctionCallingConfig.Mode = "NONE"
		case "required":
			tc.FunctionCallingConfig.Mode = "ANY"
		default:
			tc.FunctionCallingConfig.Mode = "ANY"
			tc.FunctionCallingConfig.AllowedFunctionNames = []string{req.ToolChoice}
		}
		out.ToolConfig = tc
	}
	return out, nil
}

func modelPath(model string) string { return "models/" + modelName(model) }

// modelName is model's name as it goes in a path.
func modelName(model string) string { return url.PathEscape(strings.TrimPrefix(model, "models/")) }

// modelURL is the URL of a model's method (":streamGenerateContent?alt=sse")
// under base, split where the model's name goes, so that a call joins
// no more than head, the name and tail.
func modelURL(base, method string) (head, tail string) {
	// NUL, which no URL holds, marks the place through dialect.JoinURL.
	head, tail, _ = strings.Cut(dialect.JoinURL(base, "/models/\x00"+method), "\x00")
	return head, tail
}

// CanFormat implements gateway.FormatChecker: Gemini takes JSON mode and
// a JSON Schema in its generationConfig.
func (p *Provider) CanFormat(model string, t stream.FormatType) bool { return true }

// NotifiesBeforeWait implements stream.WaitNotifier: a stream reads its
// body only through dialect.UpstreamStream.Events, so a dialect over it
// may write events unflushed until the upstream makes it wait.
func (p *Provider) NotifiesBeforeWait() bool { return true }

// Stream implements stream.Provider.
func (p *Provider) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	b, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	// No context of the stream's own: closing the body ends the request
	// (dialect.UpstreamStream), as the OpenAI and Anthropic providers'
	// streams do, without a context's allocations a call.
	us := dialect.NewUpstreamStream(ctx, nil, nil, nil)
	ep, err := p.streams.at(p.cfg.HTTPClient, req.Model)
	if err != nil {
		dialect.PutBuffer(b)
		return nil, stream.Errorf(stream.CodeInternal, "gemini: %v", err)
	}
	// A long body is let go of once sent, and its buffer pooled.
	resp, err := ep.Post(us.RequestContext(), b, shortBody)
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
	c := &chunks{body: resp.Body}
	us.Begin(resp.Body, c)
	// The reader calls the BeforeWait function itself: no
	// dialect.BodyReader between it and the body, a call less a chunk.
	c.r = us.Events(maxEvent)
	us.Provider = p.cfg.Name
	return us, nil
}

const maxEvent = 4 << 20

func statusError(resp *http.Response) *stream.Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(b))
	var er struct {
		Error APIError `json:"error"`
	}
	if json.Unmarshal(b, &er) == nil && er.Error.Message != "" {
		msg = er.Error.Message
	}
	if msg == "" {
		msg = resp.Status
	}
	code := dialect.UpstreamCode(resp.StatusCode)
	if er.Error.Status == "RESOURCE_EXHAUSTED" {
		code = stream.CodeRateLimited
	}
	e := &stream.Error{Code: code, Message: "gemini: " + msg, UpstreamStatus: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// chunks is a stream's reading side, in one allocation: the SSE reader
// over its body and the decoder.
type chunks struct {
	r    *sse.Reader
	d    Decoder
	body io.Closer
	cut  atomic.Bool // a heldTimer closed the body (heldEnd)
}

// heldEnd bounds the wait for the end of a body after its finish reason:
// an upstream that holds its connection open longer is taken to have
// ended its answer, which ends with the usage last sent. The chunk with
// the finish reason is normally the last, with the final usage.
const heldEnd = dialect.DrainWait

// ReadEvents decodes the next chunk. Gemini sends no end marker: the stream
// ends after the chunk carrying a finishReason, at the body's end, where
// the reader gives its buffer back to the pool by itself. An error chunk
// (or one that does not parse) ends it before: the reader, read no more
// (dialect.UpstreamStream), gives it back then. A stream closed before its
// end leaves the buffer to the collector, since a read may be under way.
func (c *chunks) ReadEvents() ([]stream.Event, error) {
	var held *heldTimer
	if c.d.finish != "" {
		held = startHeld(c)
	}
	// Raw: Decode copies what it keeps out of the reader's buffer.
	ev, err := c.r.NextRaw()
	if held != nil {
		held.stop()
	}
	if err == io.EOF || err != nil && c.cut.Load() {
		if evs, ok := c.d.End(); ok {
			return evs, nil
		}
		return nil, stream.Errorf(stream.CodeUpstream, "gemini: stream ended without a finish reason")
	}
	if err != nil {
		return nil, err // a transport error, worded by UpstreamStream
	}
	evs, err := c.d.Decode(ev.Data)
	if err != nil || len(evs) > 0 && evs[len(evs)-1].Kind == stream.KindFinish {
		c.r.Release()
	}
	return evs, err
}

// heldTimer bounds a read after the finish reason (heldEnd). Timers are
// pooled, each with its function made once: a timer and its function
// made per call were two allocations.
type heldTimer struct {
	t *time.Timer
	c atomic.Pointer[chunks] // whose read it bounds
}

var heldTimers = sync.Pool{New: func() any {
	h := new(heldTimer)
	h.t = time.AfterFunc(time.Hour, h.fire)
	h.t.Stop()
	return h
}}

// startHeld arms a timer for c's next read.
func startHeld(c *chunks) *heldTimer {
	h := heldTimers.Get().(*heldTimer)
	h.c.Store(c)
	h.t.Reset(heldEnd)
	return h
}

// stop disarms h once the read returned. A timer that fired, or is
// firing, is not reused: its function may still be about to read c.
func (h *heldTimer) stop() {
	if h.t.Stop() {
		h.c.Store(nil)
		heldTimers.Put(h)
	}
}

// fire ends a read held too long after the finish reason: closing the
// body ends it, and next ends the answer.
func (h *heldTimer) fire() {
	c := h.c.Load()
	c.cut.Store(true)
	c.body.Close()
}

// Decoder turns streamed chunks into events. Usage and the finish are
// held until the stream ends (End), since every chunk repeats the usage so
// far and the finish reason can come before the last usage.
type Decoder struct {
	usage    stream.Usage // the last sent, if hasUsage: by value, as
	hasUsage bool         // a pointer it was an allocation a chunk
	finish   string
	calls    int
}

// Decode decodes one chunk's JSON: a chunk of text (scanChunk's) without
// encoding/json.
func (d *Decoder) Decode(data []byte) ([]stream.Event, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if c, ok := scanChunk(data); ok {
		return d.apply(&c), nil
	}
	return d.decodeJSON(data)
}

// decodeJSON is Decode by encoding/json: any chunk.
func (d *Decoder) decodeJSON(data []byte) ([]stream.Event, error) {
	var r Response
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, stream.Errorf(stream.CodeUpstream, "gemini: bad chunk: %v", err)
	}
	if r.Error != nil {
		code := dialect.UpstreamCode(r.Error.Code)
		if r.Error.Status == "RESOURCE_EXHAUSTED" {
			code = stream.CodeRateLimited
		}
		return []stream.Event{stream.ErrorEvent(&stream.Error{Code: code, Message: "gemini: " + r.Error.Message, UpstreamStatus: r.Error.Code}), stream.Finished(stream.FinishError)}, nil
	}
	var evs []stream.Event
	if u := r.UsageMetadata; u != nil {
		d.usage, d.hasUsage = stream.Usage{PromptTokens: u.PromptTokenCount, CompletionTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount, ReasoningTokens: u.ThoughtsTokenCount}, true
	}
	if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" && len(r.Candidates) == 0 {
		d.finish = "SAFETY"
	}
	for _, c := range r.Candidates {
		if c.Index != 0 {
			continue // Runnel streams one candidate
		}
		for _, p := range c.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				args := string(p.FunctionCall.Args)
				if args == "" || args == "null" {
					args = "{}"
				}
				id := p.FunctionCall.ID
				if id == "" {
					id = "call_" + strconv.Itoa(d.calls)
				}
				evs = append(evs, stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: d.calls, ID: id, Name: p.FunctionCall.Name, Arguments: args}})
				d.calls++
			case p.Text == "":
			case p.Thought:
				evs = append(evs, stream.ThinkingDelta(p.Text))
			default:
				evs = append(evs, stream.Delta(p.Text))
			}
		}
		if c.FinishReason != "" {
			d.finish = c.FinishReason
		}
	}
	return evs, nil
}

// End returns the final usage and finish events once the stream is over;
// ok is false if no finish reason was seen.
func (d *Decoder) End() ([]stream.Event, bool) {
	if d.finish == "" {
		return nil, false
	}
	var evs []stream.Event
	if d.hasUsage {
		evs = append(evs, stream.UsageEvent(d.usage))
	}
	f := stream.FinishStop
	switch d.finish {
	case "MAX_TOKENS":
		f = stream.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		f = stream.FinishContentFilter
	case "MALFORMED_FUNCTION_CALL":
		return append(evs, stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "gemini: the model produced a malformed function call")), stream.Finished(stream.FinishError)), true
	default:
		if d.calls > 0 {
			f = stream.FinishToolCalls
		}
	}
	return append(evs, stream.Finished(f)), true
}

// Models lists the models that can generate content.
func (p *Provider) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, p.modelsURL, nil)
	if err != nil {
		return nil, stream.Errorf(stream.CodeInternal, "gemini: %v", err)
	}
	hreq.Header.Set("X-Goog-Api-Key", p.cfg.APIKey)
	resp, err := p.cfg.HTTPClient.Do(hreq)
	if err != nil {
		return nil, stream.AsError(fmt.Errorf("gemini: listing models: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, statusError(resp)
	}
	var list struct {
		Models []struct {
			Name                       string   `json:"name"`
			InputTokenLimit            int      `json:"inputTokenLimit"`
			SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
		} `json:"models"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list); err != nil {
		return nil, stream.Errorf(stream.CodeUpstream, "gemini: bad model list: %v", err)
	}
	var out []gateway.ModelInfo
	for _, m := range list.Models {
		for _, g := range m.SupportedGenerationMethods {
			if g == "streamGenerateContent" {
				out = append(out, gateway.ModelInfo{ID: strings.TrimPrefix(m.Name, "models/"), Provider: p.cfg.Name, OwnedBy: "google", ContextLength: m.InputTokenLimit})
				break
			}
		}
	}
	return out, nil
}
