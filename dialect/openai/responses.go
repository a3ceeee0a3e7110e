package openai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// kindResponses names the resumable streams of POST /v1/responses.
const kindResponses = "openai.responses"

// Responses serves POST /v1/responses: OpenAI's Responses API, streamed as
// its typed events or answered with a Response object. With "store" (the
// default) the response is kept when it ends (see responses_store.go).
func (s *Server) Responses(w http.ResponseWriter, r *http.Request) {
	var body ResponsesRequest
	if err := dialect.DecodeJSON(w, r, s.opts.BodyLimit, &body); err != nil {
		writeError(w, err)
		return
	}
	owner := s.owner(r.Context())
	if err := s.resolve(r.Context(), owner, &body); err != nil {
		writeError(w, err)
		return
	}
	req := s.validate(w, &body, false)
	if req == nil {
		return
	}
	summary, _ := body.summary() // validated by decode
	tail, terr := body.settingsTail()
	if terr != nil { // not reached: the body decoded as JSON
		writeError(w, stream.Errorf(stream.CodeInternal, "encoding the response settings: %v", terr))
		return
	}
	var keep func(e *responseEncoder)
	if body.stores() {
		input := body.Input
		keep = func(e *responseEncoder) { s.keep(owner, input, e) }
	}
	start := func(ctx context.Context) (*gateway.Call, *stream.Error) {
		call, err := s.start(ctx, req)
		if err != nil {
			return nil, dialect.FormatParam(err, "text.format")
		}
		return call, nil
	}
	if !body.Stream {
		s.response(w, r, start, tail, summary, keep)
		return
	}
	s.opts.Resume.Stream(w, r, kindResponses, dialect.Wants(r), sse.Options{KeepAlive: s.opts.KeepAlive, OmitIDs: s.opts.OmitEventIDs, DeferFlush: true},
		start,
		dialect.EncodeFunc(func(ctx context.Context, out *sse.Writer, call *gateway.Call) {
			e := newResponseEncoder(out, call, tail, summary)
			e.keep = keep
			if !e.start() {
				return
			}
			// The headers and the two events leave now, from near the top
			// of the stack, as the first wait would send them anyway: from
			// under the upstream's read, net/http's header write would grow
			// the stack past 8 KiB for the whole stream.
			out.Flush()
			finish, usage, err := e.run(call)
			if err != nil {
				s.responseFailed(ctx, e, call, err)
				return
			}
			if e.end(finish, usageOf(call, usage)) {
				out.Flush()
			}
		}))
}

// responseFailed logs a stream's failure and ends it with the error
// events. Out of line, so that the log call's arguments are no part of the
// frame an open stream keeps (see streamFailed).
//
//go:noinline
func (s *Server) responseFailed(ctx context.Context, e *responseEncoder, call *gateway.Call, err *stream.Error) {
	if err.Code == stream.CodeCancelled && ctx.Err() != nil {
		return // the client is gone; nobody to tell
	}
	s.log.Warn("openai: response stream failed", "call", call.ID, "model", call.Model, "provider", call.Provider, "err", err)
	e.fail(err)
}

// response answers a call in one piece: the Response object.
func (s *Server) response(w http.ResponseWriter, r *http.Request, start func(context.Context) (*gateway.Call, *stream.Error), tail []byte, summary bool, keep func(*responseEncoder)) {
	call, err := start(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	defer call.Close()
	e := newResponseEncoder(nil, call, tail, summary)
	e.keep = keep
	finish, usage, err := e.run(call)
	if err != nil {
		writeError(w, err)
		return
	}
	e.end(finish, usageOf(call, usage))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(appendResponse(e.buf[:0], &e.resp, e.tail), '\n'))
}

// settingsTail is the request's settings encoded, for the end of every
// response (see appendResponse).
func (c *ResponsesRequest) settingsTail() ([]byte, error) {
	s := c.settings()
	return s.tail()
}

// settings are what every response of this request echoes: its settings
// as they came, with OpenAI's defaults where it set none.
func (c *ResponsesRequest) settings() ResponseSettings {
	r := ResponseSettings{
		Instructions: c.Instructions, MaxOutputTokens: c.MaxOutputTokens, Model: c.Model, ParallelToolCalls: true,
		PreviousResponseID: c.PreviousResponseID, Store: c.stores(),
		Temperature: c.Temperature, TopP: c.TopP, Truncation: "disabled", Metadata: c.Metadata, Tools: c.Tools, ToolChoice: c.ToolChoice,
		Reasoning: json.RawMessage(`{"effort":null,"summary":null}`), Text: json.RawMessage(`{"format":{"type":"text"}}`),
	}
	if c.ParallelToolCalls != nil {
		r.ParallelToolCalls = *c.ParallelToolCalls
	}
	if c.User != "" {
		r.User = &c.User
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	if r.Tools == nil {
		r.Tools = []json.RawMessage{}
	}
	if !isSet(r.ToolChoice) {
		r.ToolChoice = json.RawMessage(`"auto"`)
	}
	if c.Reasoning != nil {
		if b, err := json.Marshal(struct {
			Effort  *string `json:"effort"`
			Summary *string `json:"summary"`
		}{c.Reasoning.Effort, c.Reasoning.Summary}); err == nil {
			r.Reasoning = b
		}
	}
	if c.Text != nil && isSet(c.Text.Format) {
		if b, err := json.Marshal(c.Text); err == nil {
			r.Text = b
		}
	}
	return r
}

// responseEncoder turns a call's events into the Responses API's: output
// items opened as the kind of content changes (reasoning, a message, each
// function call), each with its part and deltas, numbered by
// sequence_number. It keeps the output so far, for the final event's
// response (clients take their final Response from it) or, when out is nil,
// for a Response answered whole. The per-token events are built in one
// reused buffer.
type responseEncoder struct {
	out     *sse.Writer // nil: not streamed
	resp    Response    // all but its settings
	tail    []byte      // its settings, encoded (ResponseSettings.tail)
	base    string      // item ids are <kind>_<base>_<output index>
	summary bool        // thinking as a reasoning summary, not reasoning text
	// keep stores the response once it has ended, before its final
	// event; nil with "store": false.
	keep  func(*responseEncoder)
	seq   int
	items []openItem
	buf   []byte
	sent  bool // the first token's events are out
}

// openItem is an output item being built.
type openItem struct {
	OutputItem
	text    []byte // message text, thinking or arguments so far
	toolIdx int    // the stream's tool-call index (function calls)
	done    bool
}

func newResponseEncoder(out *sse.Writer, call *gateway.Call, tail []byte, summary bool) *responseEncoder {
	r := Response{ID: withPrefix("resp_", call.ID), Object: "response", CreatedAt: call.Started.Unix(), Status: "in_progress", Output: []OutputItem{}}
	return &responseEncoder{out: out, resp: r, tail: tail, base: strings.TrimPrefix(call.ID, "call_"), summary: summary, buf: make([]byte, 0, 512)}
}

// send writes one event; false once the client is gone.
func (e *responseEncoder) send(name string, data []byte) bool {
	e.seq++
	if e.out == nil {
		return true
	}
	return e.out.Send(name, data) == nil
}

// head starts an event's JSON: its type and sequence number.
func (e *responseEncoder) head(typ string) []byte {
	b := append(e.buf[:0], `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	return strconv.AppendInt(b, int64(e.seq), 10)
}

// itemHead is head with the item's id and output index.
func (e *responseEncoder) itemHead(typ string, it *openItem, k int) []byte {
	b := e.head(typ)
	b = append(b, `,"item_id":`...)
	b = dialect.AppendJSONString(b, it.ID)
	b = append(b, `,"output_index":`...)
	return strconv.AppendInt(b, int64(k), 10)
}

// lifecycle sends an event carrying the whole response.
func (e *responseEncoder) lifecycle(typ string) bool {
	b := e.head(typ)
	b = append(b, `,"response":`...)
	b = appendResponse(b, &e.resp, e.tail)
	e.buf = append(b, '}')
	return e.send(typ, e.buf)
}

// start sends response.created and response.in_progress.
func (e *responseEncoder) start() bool {
	return e.lifecycle("response.created") && e.lifecycle("response.in_progress")
}

// Item kinds, by the channel or tool call that opens them.
const (
	itemMessage   = "message"
	itemReasoning = "reasoning"
	itemFunction  = "function_call"
)

// partType is the type of the one part of a message or reasoning item.
func (e *responseEncoder) partType(kind string) string {
	switch {
	case kind == itemMessage:
		return "output_text"
	case e.summary:
		return "summary_text"
	}
	return "reasoning_text"
}

// open closes the items still open (a new function call leaves the other
// calls open: their fragments may interleave) and opens one of kind.
func (e *responseEncoder) open(kind string, tc *stream.ToolCallDelta) (*openItem, int, bool) {
	for k := range e.items {
		if !e.items[k].done && (kind != itemFunction || e.items[k].Type != itemFunction) {
			if !e.close(k, "completed") {
				return nil, 0, false
			}
		}
	}
	k := len(e.items)
	it := openItem{OutputItem: OutputItem{Type: kind}}
	switch kind {
	case itemMessage:
		it.ID, it.Status, it.Role = "msg_", "in_progress", "assistant"
	case itemReasoning:
		it.ID = "rs_"
	case itemFunction:
		it.ID, it.Status, it.CallID, it.Name, it.toolIdx = "fc_", "in_progress", tc.ID, tc.Name, tc.Index
		if it.CallID == "" {
			it.CallID = "call_" + e.base + "_" + strconv.Itoa(k)
		}
	}
	it.ID += e.base + "_" + strconv.Itoa(k)
	e.items = append(e.items, it)
	itp := &e.items[k]
	if e.out == nil {
		return itp, k, true
	}
	if !e.itemEvent("response.output_item.added", k) {
		return nil, 0, false
	}
	if kind == itemFunction {
		return itp, k, true
	}
	name := "response.content_part.added"
	var b []byte
	if kind == itemReasoning && e.summary {
		name = "response.reasoning_summary_part.added"
		b = e.itemHead(name, itp, k)
		b = append(b, `,"summary_index":0,"part":{"type":"summary_text","text":""}}`...)
	} else {
		b = e.itemHead(name, itp, k)
		b = append(b, `,"content_index":0,"part":`...)
		b = append(appendContentItem(b, e.partType(kind), ""), '}')
	}
	e.buf = b
	return itp, k, e.send(name, b)
}

// itemEvent sends output_item.added or .done with item k as it is now.
func (e *responseEncoder) itemEvent(typ string, k int) bool {
	item := e.items[k].snapshot()
	b := e.head(typ)
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"item":`...)
	e.buf = append(appendOutputItem(b, &item), '}')
	return e.send(typ, e.buf)
}

// snapshot is the item with its text so far in place.
func (it *openItem) snapshot() OutputItem {
	o := it.OutputItem
	switch o.Type {
	case itemMessage:
		if it.done {
			o.Content = []ContentItem{{Type: "output_text", Text: string(it.text)}}
		}
	case itemReasoning:
		if it.done && it.Summary != nil {
			o.Summary = []ContentItem{{Type: "summary_text", Text: string(it.text)}}
		}
		if it.done && it.Content != nil {
			o.Content = []ContentItem{{Type: "reasoning_text", Text: string(it.text)}}
		}
	case itemFunction:
		o.Arguments = string(it.text)
	}
	return o
}

// delta writes a content or thinking delta, opening an item for it if the
// last one is of another kind. This is the per-token path.
func (e *responseEncoder) delta(ch stream.Channel, text string) bool {
	kind := itemMessage
	if ch == stream.Thinking {
		kind = itemReasoning
	}
	k := len(e.items) - 1
	var it *openItem
	if k >= 0 && !e.items[k].done && e.items[k].Type == kind {
		it = &e.items[k]
	} else {
		var ok bool
		if it, k, ok = e.open(kind, nil); !ok {
			return false
		}
	}
	it.text = append(it.text, text...)
	if e.out == nil {
		return true
	}
	var b []byte
	switch {
	case kind == itemMessage:
		b = e.itemHead("response.output_text.delta", it, k)
		b = append(b, `,"content_index":0,"delta":`...)
		b = dialect.AppendJSONString(b, text)
		b = append(b, `,"logprobs":[]}`...)
	case e.summary:
		b = e.itemHead("response.reasoning_summary_text.delta", it, k)
		b = append(b, `,"summary_index":0,"delta":`...)
		b = dialect.AppendJSONString(b, text)
		b = append(b, '}')
	default:
		b = e.itemHead("response.reasoning_text.delta", it, k)
		b = append(b, `,"content_index":0,"delta":`...)
		b = dialect.AppendJSONString(b, text)
		b = append(b, '}')
	}
	e.buf = b
	return e.send(deltaEvent(kind, e.summary), b)
}

func deltaEvent(kind string, summary bool) string {
	switch {
	case kind == itemMessage:
		return "response.output_text.delta"
	case summary:
		return "response.reasoning_summary_text.delta"
	}
	return "response.reasoning_text.delta"
}

// toolCall writes a tool-call fragment: a new index opens a function_call
// item, and arguments go out as function_call_arguments.delta.
func (e *responseEncoder) toolCall(d *stream.ToolCallDelta) bool {
	var (
		it *openItem
		k  int
	)
	for i := range e.items {
		if c := &e.items[i]; c.Type == itemFunction && !c.done && c.toolIdx == d.Index {
			it, k = c, i
		}
	}
	if it == nil {
		var ok bool
		if it, k, ok = e.open(itemFunction, d); !ok {
			return false
		}
	}
	if d.Arguments == "" {
		return true
	}
	it.text = append(it.text, d.Arguments...)
	if e.out == nil {
		return true
	}
	b := e.itemHead("response.function_call_arguments.delta", it, k)
	b = append(b, `,"delta":`...)
	b = dialect.AppendJSONString(b, d.Arguments)
	e.buf = append(b, '}')
	return e.send("response.function_call_arguments.delta", e.buf)
}

// close ends item k with status: its text's done event, its part's, and
// output_item.done.
func (e *responseEncoder) close(k int, status string) bool {
	it := &e.items[k]
	it.done = true
	switch it.Type {
	case itemMessage, itemFunction:
		it.Status = status
	case itemReasoning:
		if e.summary {
			it.Summary = []ContentItem{}
		} else {
			it.Content = []ContentItem{}
		}
	}
	if e.out == nil {
		return true
	}
	var b []byte
	switch {
	case it.Type == itemFunction:
		b = e.itemHead("response.function_call_arguments.done", it, k)
		b = append(b, `,"name":`...)
		b = dialect.AppendJSONString(b, it.Name)
		b = append(b, `,"arguments":`...)
		b = dialect.AppendJSONString(b, string(it.text))
		e.buf = append(b, '}')
		if !e.send("response.function_call_arguments.done", e.buf) {
			return false
		}
	case it.Type == itemReasoning && e.summary:
		b = e.itemHead("response.reasoning_summary_text.done", it, k)
		b = append(b, `,"summary_index":0,"text":`...)
		b = dialect.AppendJSONString(b, string(it.text))
		e.buf = append(b, '}')
		if !e.send("response.reasoning_summary_text.done", e.buf) {
			return false
		}
		b = e.itemHead("response.reasoning_summary_part.done", it, k)
		b = append(b, `,"summary_index":0,"part":{"type":"summary_text","text":`...)
		b = dialect.AppendJSONString(b, string(it.text))
		e.buf = append(b, "}}"...)
		if !e.send("response.reasoning_summary_part.done", e.buf) {
			return false
		}
	default:
		typ := "response.output_text.done"
		if it.Type == itemReasoning {
			typ = "response.reasoning_text.done"
		}
		b = e.itemHead(typ, it, k)
		b = append(b, `,"content_index":0,"text":`...)
		b = dialect.AppendJSONString(b, string(it.text))
		if it.Type == itemMessage {
			b = append(b, `,"logprobs":[]`...)
		}
		e.buf = append(b, '}')
		if !e.send(typ, e.buf) {
			return false
		}
		b = e.itemHead("response.content_part.done", it, k)
		b = append(b, `,"content_index":0,"part":`...)
		e.buf = append(appendContentItem(b, e.partType(it.Type), string(it.text)), '}')
		if !e.send("response.content_part.done", e.buf) {
			return false
		}
	}
	return e.itemEvent("response.output_item.done", k)
}

// run reads call to its end through e. A failure is returned, for the
// caller to answer in its way (an error status, or error events).
func (e *responseEncoder) run(call *gateway.Call) (stream.FinishReason, *stream.Usage, *stream.Error) {
	var (
		usage  *stream.Usage
		finish stream.FinishReason
	)
	for {
		ev, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, stream.AsError(err)
		}
		ok := true
		switch ev.Kind {
		case stream.KindDelta:
			ok = e.delta(ev.Channel, ev.Text)
		case stream.KindToolCall:
			ok = e.toolCall(ev.ToolCall)
		case stream.KindUsage:
			usage = ev.Usage
		case stream.KindFinish:
			finish = ev.Finish
		case stream.KindError:
			return "", nil, ev.Err
		}
		if !ok {
			return "", nil, stream.Errorf(stream.CodeCancelled, "the client is gone")
		}
		if (ev.Kind == stream.KindDelta || ev.Kind == stream.KindToolCall) && !e.sent && e.out != nil {
			// The first token never waits for coalescing (see
			// sse.Options.DeferFlush).
			e.sent = true
			e.out.Flush()
		}
	}
	switch finish {
	case stream.FinishCancelled:
		return "", nil, stream.Errorf(stream.CodeCancelled, "the stream was cancelled")
	case stream.FinishError:
		return "", nil, stream.Errorf(stream.CodeUpstream, "the stream ended with an error")
	}
	return finish, usage, nil
}

// end closes the open items and completes the response: status completed,
// or incomplete when the output was cut (max_output_tokens, a content
// filter). Streamed, it sends response.completed or response.incomplete.
func (e *responseEncoder) end(finish stream.FinishReason, u *stream.Usage) bool {
	status, event := "completed", "response.completed"
	switch finish {
	case stream.FinishLength:
		e.resp.IncompleteDetails = &IncompleteDetails{Reason: "max_output_tokens"}
	case stream.FinishContentFilter:
		e.resp.IncompleteDetails = &IncompleteDetails{Reason: "content_filter"}
	}
	if e.resp.IncompleteDetails != nil {
		status, event = "incomplete", "response.incomplete"
	}
	for k := range e.items {
		if !e.items[k].done && !e.close(k, status) {
			return false
		}
	}
	e.resp.Status = status
	e.resp.Output = e.output()
	e.resp.Usage = &ResponseUsage{}
	if u != nil {
		e.resp.Usage = &ResponseUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens(),
			OutputTokensDetails: OutputTokensDetails{ReasoningTokens: u.ReasoningTokens}}
	}
	if e.keep != nil {
		e.keep(e)
	}
	if e.out == nil {
		return true
	}
	return e.lifecycle(event)
}

func (e *responseEncoder) output() []OutputItem {
	out := make([]OutputItem, len(e.items))
	for k := range e.items {
		out[k] = e.items[k].snapshot()
	}
	return out
}

// fail ends a stream that failed: an error event, then response.failed
// with the output so far.
func (e *responseEncoder) fail(err *stream.Error) {
	if !e.send("error", responseErrorEvent(e.head("error"), err)) {
		return
	}
	body := errorBody(err)
	e.resp.Status = "failed"
	e.resp.Error = &ResponseError{Code: body.Code.(string), Message: body.Message}
	e.resp.Output = e.output()
	if e.keep != nil {
		e.keep(e)
	}
	if e.lifecycle("response.failed") {
		e.out.Flush()
	}
}

// responseErrorEvent completes the error event begun in b (its type and
// sequence number): the code, message and param of OpenAI's error object.
func responseErrorEvent(b []byte, err *stream.Error) []byte {
	body := errorBody(err)
	b = append(b, `,"code":`...)
	b = dialect.AppendJSONString(b, body.Code.(string))
	b = append(b, `,"message":`...)
	b = dialect.AppendJSONString(b, body.Message)
	b = append(b, `,"param":`...)
	if body.Param != nil {
		b = dialect.AppendJSONString(b, *body.Param)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// writeResponseStreamError ends a stream with an error event alone: the
// end of a resumable stream whose replica died, written with no encoder
// state. Its sequence number is the events' count, as the encoder's are.
func writeResponseStreamError(out *sse.Writer, err *stream.Error) {
	b := []byte(`{"type":"error","sequence_number":`)
	b = strconv.AppendUint(b, out.LastID(), 10)
	if out.Send("error", responseErrorEvent(b, err)) == nil {
		out.Flush()
	}
}
