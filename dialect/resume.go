package dialect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Headers of resumable streams.
const (
	// ResumableHeader ("true") opts a streamed request in to resumption.
	ResumableHeader = "Runnel-Resumable"
	// StreamIDHeader names a resumable stream in its response.
	StreamIDHeader = "Runnel-Stream-Id"
)

// Resumer is the resumption layer of the dialect servers: a dialect hands
// it a streamed call and its encoder (Stream), and it runs the call
// straight to the response or, when the client opted in, on a context of
// its own through a session log that the request and any reconnect read
// (Reconnects). Where logs live (this process, or Redis for every
// replica) is the registry's business. One Resumer is shared by all
// dialects (one registry, one owner function). See NewResumer.
type Resumer struct {
	Registry *resume.Registry
	// Owner names the caller a stream belongs to (only the same caller
	// may resume it); "" when auth is off. nil means "" for everyone.
	Owner     func(ctx context.Context) string
	KeepAlive time.Duration // for the clients' writers, as sse.Options
	// Settle records a call whose replica died mid-stream, for owner
	// (as Owner named the caller), on the replica that ended its log with
	// the interruption events (gateway.Gateway.Settle, in owner's
	// context). nil records nothing.
	Settle func(ctx context.Context, owner string, rec *gateway.Record)
	// WithOwner returns ctx carrying the caller Owner named owner: for a
	// call continued on this replica after its own died. nil continues
	// no call (their streams end with the interruption).
	WithOwner func(ctx context.Context, owner string) context.Context

	mu       sync.Mutex
	codecs   map[string]Codec
	handlers map[string]http.HandlerFunc // by kind, for continuations
	calls    map[*liveCall]struct{}      // resumable calls running (see Shutdown)
	changed  chan struct{}               // closed and replaced when one ends
	// keeper runs the keep-alives of every client's Writer on one
	// timer, not a timer each.
	keeper sse.Keeper
}

// Codec is what the layer needs of a dialect to serve its kind of stream.
type Codec struct {
	// WriteError answers with an error in the dialect's shape, before
	// anything streamed.
	WriteError func(w http.ResponseWriter, err *stream.Error)
	// StreamError writes a terminal error event in the dialect's shape:
	// the end of a stream whose replica died.
	StreamError func(out *sse.Writer, err *stream.Error)
}

type liveCall struct{ cancel context.CancelCauseFunc }

// NewResumer returns a Resumer over a new registry.
func NewResumer(o resume.Options, owner func(ctx context.Context) string) *Resumer {
	rs := &Resumer{Owner: owner, codecs: map[string]Codec{}, handlers: map[string]http.HandlerFunc{}, calls: map[*liveCall]struct{}{}, changed: make(chan struct{})}
	if o.Interrupted == nil {
		o.Interrupted = rs.interrupted
	}
	if o.Orphaned == nil {
		o.Orphaned = rs.orphaned
	}
	if o.Continue == nil {
		o.Continue = rs.continueOrphan
	}
	rs.Registry = resume.NewRegistry(o)
	return rs
}

// Register names the codec of kind's streams (an endpoint: a stream
// resumes only where it started).
func (rs *Resumer) Register(kind string, c Codec) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.codecs[kind] = c
}

func (rs *Resumer) codec(kind string) Codec {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.codecs[kind]
}

// ErrInterrupted ends a stream whose replica stopped before it finished.
var ErrInterrupted = &stream.Error{Code: stream.CodeUpstream, Message: resume.InterruptedMessage}

// interrupted encodes kind's terminal events for a stream whose replica
// died, numbered from seq on in stream id.
func (rs *Resumer) interrupted(kind, id string, seq uint64) [][]byte {
	c := rs.codec(kind)
	if c.StreamError == nil {
		return nil
	}
	var l frameLog
	out := sse.NewLogWriter(&l, sse.Options{IDPrefix: id + "-", LastID: seq - 1})
	c.StreamError(out, ErrInterrupted)
	return l.frames
}

// frameLog keeps the frames a log writer writes.
type frameLog struct{ frames [][]byte }

func (l *frameLog) Append(_ uint64, frame []byte) error {
	l.frames = append(l.frames, append([]byte(nil), frame...))
	return nil
}

// Wants reports whether r opts in to resumption.
func Wants(r *http.Request) bool {
	v := header(r.Header, ResumableHeader)
	if v == "" {
		return false // without a header, no ParseBool error to allocate
	}
	b, _ := strconv.ParseBool(v)
	return b
}

// LastEventID is r's Last-Event-ID header, or its last_event_id query
// parameter for clients that cannot set headers.
func LastEventID(r *http.Request) string {
	if id := header(r.Header, "Last-Event-Id"); id != "" {
		return id
	}
	if r.URL.RawQuery == "" {
		return "" // most calls: no query to parse into a map
	}
	return r.URL.Query().Get("last_event_id")
}

// header is h.Get(key) for a key in canonical form, which Get would
// canonicalize again on every call: a server's request headers have
// canonical keys.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (rs *Resumer) owner(ctx context.Context) string {
	if rs.Owner == nil {
		return ""
	}
	return rs.Owner(ctx)
}

// Reconnects wraps h, a dialect's handler of kind's streams: a request
// carrying a Last-Event-ID is a reconnect, answered from the log (its
// body is ignored); h gets the rest.
func (rs *Resumer) Reconnects(kind string, h http.HandlerFunc) http.HandlerFunc {
	rs.mu.Lock()
	rs.handlers[kind] = h
	rs.mu.Unlock()
	return func(w http.ResponseWriter, r *http.Request) {
		if r = rs.fresh(w, r, kind); r != nil {
			h(w, r)
		}
	}
}

// fresh answers a reconnect from the log (and returns nil), or returns r
// for h, its body kept when it opts in to resumption. Out of line, so
// that none of it stays in the frame above an open stream (see
// server.Handler.ServeHTTP).
//
//go:noinline
func (rs *Resumer) fresh(w http.ResponseWriter, r *http.Request, kind string) *http.Request {
	last := LastEventID(r)
	if last == "" {
		if Wants(r) {
			return withOrigin(r)
		}
		return r
	}
	if err := rs.Resume(w, r, kind, last); err != nil {
		rs.codec(kind).WriteError(w, err)
	}
	return nil
}

// Encoder writes a streamed call's events to out. An interface, not a
// function: a dialect's encoder can be a struct its call allocates
// anyway, where a closure a resumable call runs later would be one more
// allocation for every call.
type Encoder interface {
	Encode(ctx context.Context, out *sse.Writer, call *gateway.Call)
}

// EncodeFunc is a function as an Encoder.
type EncodeFunc func(ctx context.Context, out *sse.Writer, call *gateway.Call)

func (f EncodeFunc) Encode(ctx context.Context, out *sse.Writer, call *gateway.Call) {
	f(ctx, out, call)
}

// Stream serves one streamed call of kind. start starts it with ctx (r's
// own; or, when resumable, r's without its cancellation: the call
// outlives a broken connection until the grace period runs out); encode
// writes it to out, an SSE writer made with o (or the session's log).
// The layer closes the call. An error from start is written with kind's
// codec.
func (rs *Resumer) Stream(w http.ResponseWriter, r *http.Request, kind string, resumable bool, o sse.Options,
	start func(ctx context.Context) (*gateway.Call, *stream.Error),
	encode Encoder) {
	if resumable {
		rs.streamResumable(w, r, kind, start, encode)
		return
	}
	call, out := rs.startPlain(w, r, kind, &o, start)
	if call == nil {
		return
	}
	defer call.Close()
	defer out.Close()
	encode.Encode(r.Context(), out, call)
}

// startPlain is Stream's start of a plain call: the call and its writer, or
// nil when start failed (and the error is written). Out of line, so that
// its locals are no part of the frame above an open stream (see
// server.Handler.ServeHTTP).
//
//go:noinline
func (rs *Resumer) startPlain(w http.ResponseWriter, r *http.Request, kind string, o *sse.Options,
	start func(ctx context.Context) (*gateway.Call, *stream.Error)) (*gateway.Call, *sse.Writer) {
	// With o.DeferFlush the dialect allows events to be written
	// unflushed; they are flushed before the call waits for its
	// provider (gateway.Call.FlushOnWait), so none is held back, and
	// events the upstream sent together leave in one write.
	var wf *waitFlush
	ctx := r.Context()
	if o.DeferFlush {
		wf = new(waitFlush)
		wf.ctx.Set(ctx, wf)
		ctx = &wf.ctx
	}
	call, err := start(ctx)
	if err != nil {
		rs.codec(kind).WriteError(w, err)
		return nil, nil
	}
	call.Request = nil // nothing here logs it; see gateway.Call.Request
	if o.KeepAlive == 0 {
		o.KeepAlive = rs.KeepAlive
	}
	o.DeferFlush = o.DeferFlush && call.FlushOnWait
	var out *sse.Writer
	if wf != nil {
		out = &wf.out
		rs.keeper.Open(out, w, *o)
	} else {
		out = rs.keeper.NewWriter(w, *o)
	}
	if c := call.EventClock(); c != nil {
		out.SetClock(c, call.Started) // one clock reading a token
	}
	if o.DeferFlush {
		wf.w.Store(out)
		wf.call.Store(call)
	}
	return call, out
}

// streamResumable is Stream for a resumable call. Out of line, so that
// its locals are no part of the frame a plain stream keeps on its
// goroutine stack (see logRequest in server).
//
//go:noinline
func (rs *Resumer) streamResumable(w http.ResponseWriter, r *http.Request, kind string,
	start func(ctx context.Context) (*gateway.Call, *stream.Error),
	encode Encoder) {
	if ct := continuingFrom(r.Context()); ct != nil {
		rs.continueStream(r, ct, start, encode)
		return
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	sess, err := rs.Registry.Open(rs.owner(r.Context()), kind, func() { cancel(nil) })
	if err != nil {
		cancel(nil)
		msg := "too many resumable streams"
		if !errors.Is(err, resume.ErrFull) {
			slog.Error("resumable stream: opening its log", "err", err)
			msg = "resumable streams are unavailable just now (their log store failed)"
		}
		rs.codec(kind).WriteError(w, stream.Errorf(stream.CodeOverloaded, "%s; retry later, or without the %s header", msg, ResumableHeader))
		return
	}
	call, serr := start(ctx)
	if serr != nil {
		sess.Discard()
		rs.codec(kind).WriteError(w, serr)
		return
	}
	c, aerr := sess.Attach(0)
	if aerr != nil { // a fresh session: not reached
		call.Close()
		sess.Discard()
		rs.codec(kind).WriteError(w, stream.Errorf(stream.CodeInternal, "resumable stream: %v", aerr))
		return
	}
	if sess.Shared() {
		// Only another replica reads the notes: in memory they would cost
		// a little per token for nothing.
		describe(sess, callInfoOf(call, originFrom(r.Context())))
		call.Stream = &noting{Stream: call.Stream, sess: sess}
	}
	call.Request = nil // logged, if ever; see gateway.Call.Request
	rs.run(ctx, cancel, sess, call, encode)
	rs.follow(w, r, sess.ID(), c)
}

// waitFlush is a call's stream.Waiter: it flushes the SSE writer, once
// there is one, and when a read wakes the stream (sse.AfterWaiter)
// prefetches what the token goes through. It holds the context that
// carries it (itself, not a method value: one allocation a call less)
// and the writer (out; w points to it once the writer flushes before
// waits), made once the call started: the three in one allocation. call
// and up are what AfterWait prefetches besides the writer.
type waitFlush struct {
	w    atomic.Pointer[sse.Writer]
	call atomic.Pointer[gateway.Call]
	// up is the upstream stream (WakesUp), prefetched with the rest when
	// the stream wakes; set and read on the reading goroutine.
	up  Prefetcher
	ctx stream.WaitContext
	out sse.Writer
}

// AfterWait prefetches what the token that woke the stream goes through
// next (sse.AfterWaiter): the upstream's state, the call's, the writer's.
func (f *waitFlush) AfterWait() {
	if f.up != nil {
		f.up.Prefetch()
	}
	if c := f.call.Load(); c != nil {
		c.Prefetch()
	}
	if w := f.w.Load(); w != nil {
		w.Prefetch()
	}
}

// Prefetcher is an upstream stream that can bring what a token's read of
// it touches into the cache (package prefetch), when its stream wakes.
type Prefetcher interface{ Prefetch() }

// WakesUp tells w, a call's stream.Waiter, that a token's read goes
// through p when the stream wakes: a dialect's Waiter has p prefetch
// (sse.AfterWaiter). Other Waiters ignore it. For the goroutine that
// reads the stream.
func WakesUp(w stream.Waiter, p Prefetcher) {
	if f, ok := w.(interface{ Wakes(Prefetcher) }); ok {
		f.Wakes(p)
	}
}

// Wakes registers p for AfterWait (WakesUp).
func (f *waitFlush) Wakes(p Prefetcher) { f.up = p }

func (f *waitFlush) BeforeWait() {
	if w := f.w.Load(); w != nil {
		w.Flush()
	}
}

// run runs a resumable call's encoder into its session's log, on a
// goroutine of its own, counted for Shutdown.
func (rs *Resumer) run(ctx context.Context, cancel context.CancelCauseFunc, sess *resume.Session, call *gateway.Call,
	encode Encoder) {
	lc := &liveCall{cancel: cancel}
	rs.mu.Lock()
	rs.calls[lc] = struct{}{}
	rs.mu.Unlock()
	go func() {
		defer func() {
			rs.mu.Lock()
			delete(rs.calls, lc)
			close(rs.changed)
			rs.changed = make(chan struct{})
			rs.mu.Unlock()
		}()
		defer sess.Finish()
		defer call.Close()
		defer func() {
			// In a handler a panic costs one request; here it would take
			// the server down.
			if p := recover(); p != nil {
				slog.Error("resumable stream panicked", "stream", sess.ID(), "panic", p)
			}
		}()
		encode.Encode(ctx, sse.NewLogWriter(sess, sse.Options{IDPrefix: sess.ID() + "-"}), call)
	}()
}

// callInfo is what a session's log keeps of its call (Session.Describe),
// for the replica that ends or continues it if this one dies: enough to
// record it, and the HTTP request that started it, to run it again (with
// no credentials: the caller is the log's owner).
type callInfo struct {
	ID       string          `json:"id"`
	Provider string          `json:"provider"`
	Model    string          `json:"model"`
	Started  time.Time       `json:"started"`
	Request  *stream.Request `json:"request,omitempty"`
	Origin   *origin         `json:"origin,omitempty"`
}

// origin is the HTTP request of a resumable call, as its handler got it.
type origin struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

type originKey struct{}

// withOrigin returns r with its body read and kept in its context (for
// callInfo), and readable again.
func withOrigin(r *http.Request) *http.Request {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		// Too large or broken: the handler reads the same error.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		return r
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	h := r.Header.Clone()
	for _, k := range []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "Cookie", "Last-Event-Id"} {
		h.Del(k)
	}
	return r.WithContext(context.WithValue(r.Context(), originKey{}, &origin{Method: r.Method, URI: r.URL.RequestURI(), Header: h, Body: b}))
}

func originFrom(ctx context.Context) *origin {
	o, _ := ctx.Value(originKey{}).(*origin)
	return o
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func callInfoOf(call *gateway.Call, o *origin) []byte {
	b, _ := json.Marshal(callInfo{ID: call.ID, Provider: call.Provider, Model: call.Model, Started: call.Started, Request: call.Request, Origin: o})
	return b
}

// describe keeps info in sess's log.
func describe(sess *resume.Session, info []byte) {
	if err := sess.Describe(info); err != nil {
		// The stream still serves; only a replica's death would cost
		// its record.
		slog.Warn("resumable stream: describing its call in the log", "stream", sess.ID(), "err", err)
	}
}

// noted is an event as noted beside the frames that follow it: the
// content events, from which another replica rebuilds the answer so far.
type noted struct {
	Thinking bool                  `json:"h,omitempty"`
	Text     string                `json:"t,omitempty"`
	ToolCall *stream.ToolCallDelta `json:"c,omitempty"`
}

// noting notes the content events read for the frames that the encoder
// writes next.
type noting struct {
	stream.Stream
	sess *resume.Session
	buf  []byte
}

func (n *noting) Recv() (stream.Event, error) {
	ev, err := n.Stream.Recv()
	if err != nil {
		return ev, err
	}
	var e noted
	switch ev.Kind {
	case stream.KindDelta:
		e = noted{Thinking: ev.Channel == stream.Thinking, Text: ev.Text}
	case stream.KindToolCall:
		e = noted{ToolCall: ev.ToolCall}
	default:
		return ev, nil
	}
	b, merr := json.Marshal(e)
	if merr == nil {
		n.buf = append(append(n.buf[:0], b...), '\n')
		n.sess.Note(n.buf)
	}
	return ev, err
}

// answer is what a dead replica's log says of its call's answer.
type answer struct {
	events         []stream.Event // the content events, in order
	text, thinking string
	toolCalls      []stream.ToolCall
}

func answerOf(notes []byte) answer {
	var a answer
	var text, thinking strings.Builder
	dec := json.NewDecoder(bytes.NewReader(notes))
	for {
		var e noted
		if dec.Decode(&e) != nil {
			break
		}
		switch {
		case e.ToolCall != nil:
			a.events = append(a.events, stream.Event{Kind: stream.KindToolCall, ToolCall: e.ToolCall})
			a.toolCalls = stream.MergeToolCall(a.toolCalls, *e.ToolCall)
		case e.Thinking:
			a.events = append(a.events, stream.ThinkingDelta(e.Text))
			thinking.WriteString(e.Text)
		default:
			a.events = append(a.events, stream.Delta(e.Text))
			text.WriteString(e.Text)
		}
	}
	a.text, a.thinking = text.String(), thinking.String()
	return a
}

// orphaned records the call of a stream whose replica died, from what
// its log holds (resume.Options.Orphaned).
func (rs *Resumer) orphaned(ctx context.Context, o resume.Orphan) {
	var ci callInfo
	if err := json.Unmarshal(o.Call, &ci); err != nil || ci.ID == "" {
		slog.Error("resumable stream: its replica died and its log does not describe its call; the call is not recorded", "stream", o.ID, "err", err)
		return
	}
	if rs.Settle == nil {
		return
	}
	a := answerOf(o.Notes)
	rs.Settle(ctx, o.Owner, &gateway.Record{
		ID: ci.ID, Request: ci.Request, Provider: ci.Provider, Model: ci.Model, Started: ci.Started,
		Output: a.text, Thinking: a.thinking, ToolCalls: a.toolCalls,
		Finish: stream.FinishError, Status: "error", Err: ErrInterrupted,
	})
}

// continuing is a dead replica's call being run again here
// (continueOrphan), as its handler's context carries it.
type continuing struct {
	orphan resume.Orphan
	nonce  string
	events []stream.Event // to replay into the encoder
	result chan error     // whether the generation started
}

type continuingKey struct{}

func continuingFrom(ctx context.Context) *continuing {
	c, _ := ctx.Value(continuingKey{}).(*continuing)
	return c
}

// continueOrphan continues, on this replica, the call of a stream whose
// replica died (resume.Options.Continue): its dialect's handler runs the
// original request again, for the caller the log names, with the answer
// so far as a gateway.Continuation; the encoder is fed the logged events
// first, so that it writes the frames already logged again (the session
// skips them) and then the continuation's, exactly as the dead replica
// would have. false if it cannot (no request kept, a provider that cannot
// continue, refused admission): the stream ends with the interruption.
func (rs *Resumer) continueOrphan(ctx context.Context, o resume.Orphan, nonce string) bool {
	var ci callInfo
	if err := json.Unmarshal(o.Call, &ci); err != nil || ci.ID == "" || ci.Origin == nil || rs.WithOwner == nil {
		return false
	}
	rs.mu.Lock()
	h := rs.handlers[o.Kind]
	rs.mu.Unlock()
	if h == nil {
		return false
	}
	a := answerOf(o.Notes)
	ct := &continuing{orphan: o, nonce: nonce, events: a.events, result: make(chan error, 2)}
	// The call's own caller, and nothing of the request that found it
	// dead (whose caller may be another key of the same owner).
	cctx := rs.WithOwner(context.Background(), o.Owner)
	cctx = gateway.WithContinuation(cctx, gateway.Continuation{ID: ci.ID, Started: ci.Started, Text: a.text, Thinking: a.thinking})
	cctx = context.WithValue(cctx, continuingKey{}, ct)
	req, err := http.NewRequestWithContext(cctx, ci.Origin.Method, ci.Origin.URI, bytes.NewReader(ci.Origin.Body))
	if err != nil {
		return false
	}
	req.Header = ci.Origin.Header
	req.RemoteAddr = "127.0.0.1:0" // a request of this replica's own
	w := &discard{header: http.Header{}}
	h(w, req)
	ct.result <- fmt.Errorf("its handler answered %d", w.status) // when it never reached Stream
	if err := <-ct.result; err != nil {
		slog.Warn("resumable stream: its replica died and its call cannot be continued here", "stream", o.ID, "call", ci.ID, "err", err)
		return false
	}
	return true
}

// continueStream starts a continuation in a session adopting the dead
// replica's log.
func (rs *Resumer) continueStream(r *http.Request, ct *continuing,
	start func(ctx context.Context) (*gateway.Call, *stream.Error),
	encode Encoder) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	sess, err := rs.Registry.Adopt(ct.orphan, ct.nonce, func() { cancel(nil) })
	if err != nil {
		cancel(nil)
		ct.result <- err
		return
	}
	call, serr := start(ctx)
	if serr != nil {
		sess.Abandon()
		ct.result <- serr
		return
	}
	describe(sess, ct.orphan.Call)
	call.Stream = &replaying{events: ct.events, Stream: &noting{Stream: call.Stream, sess: sess}}
	ct.result <- nil
	rs.run(ctx, cancel, sess, call, encode)
}

// replaying reads events, then its stream: the answer so far, for the
// encoder of a continuation to be where the dead replica's was.
type replaying struct {
	events []stream.Event
	stream.Stream
}

func (p *replaying) Recv() (stream.Event, error) {
	if len(p.events) > 0 {
		ev := p.events[0]
		p.events = p.events[1:]
		return ev, nil
	}
	return p.Stream.Recv()
}

// discard is the ResponseWriter of a continuation's handler: the client
// reads the log.
type discard struct {
	header http.Header
	status int
}

func (d *discard) Header() http.Header { return d.header }
func (d *discard) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(b), nil
}
func (d *discard) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}

// ErrShuttingDown is the cause of the calls Shutdown cancels.
var ErrShuttingDown = &stream.Error{Code: stream.CodeOverloaded, Message: "the server is shutting down and stopped this stream before it finished; send the request again to retry"}

// Shutdown waits until the resumable calls still running have ended or
// ctx is done; then it cancels the rest with ErrShuttingDown (each ends
// with its dialect's error event, which says so) and waits, at most
// ShutdownWait more, until they have ended and been recorded.
func (rs *Resumer) Shutdown(ctx context.Context) error {
	if rs.wait(ctx.Done()) {
		return nil
	}
	rs.mu.Lock()
	for lc := range rs.calls {
		lc.cancel(ErrShuttingDown)
	}
	rs.mu.Unlock()
	wctx, cancel := context.WithTimeout(context.Background(), ShutdownWait)
	defer cancel()
	if rs.wait(wctx.Done()) {
		return nil
	}
	return fmt.Errorf("resumable streams still running %s after they were cancelled", ShutdownWait)
}

// wait reports whether every resumable call ended before stop.
func (rs *Resumer) wait(stop <-chan struct{}) bool {
	for {
		rs.mu.Lock()
		n, ch := len(rs.calls), rs.changed
		rs.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

// ShutdownWait bounds how long Shutdown waits for cancelled calls to end.
const ShutdownWait = 5 * time.Second

// Resume answers a reconnect carrying lastID (see LastEventID) to an
// endpoint of kind: the events after it, then the live stream to its end.
// A caller that has everything gets 204 (which also stops EventSource
// reconnecting). The request's body is ignored. A non-nil error is for the
// dialect to write in its own shape.
func (rs *Resumer) Resume(w http.ResponseWriter, r *http.Request, kind, lastID string) *stream.Error {
	id, seq, ok := resume.ParseID(lastID)
	if !ok {
		return stream.InvalidParam("Last-Event-ID", "Last-Event-ID %q is not an event id of a resumable stream (rs_<32 hex digits>-<n>)", lastID)
	}
	c, err := rs.Registry.Resume(id, rs.owner(r.Context()), kind, seq)
	if errors.Is(err, resume.ErrComplete) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return rs.resumeError(id, seq, err)
	}
	rs.follow(w, r, id, c)
	return nil
}

func (rs *Resumer) resumeError(id string, seq uint64, err error) *stream.Error {
	o := rs.Registry.Options()
	switch {
	case errors.Is(err, resume.ErrTooLarge):
		return stream.Errorf(stream.CodeConflict, "stream %s can no longer be resumed: its output outgrew the %d-byte replay log", id, o.MaxBytes)
	case errors.Is(err, resume.ErrBadPosition):
		return stream.InvalidParam("Last-Event-ID", "stream %s has sent no event %d", id, seq)
	case !errors.Is(err, resume.ErrNotFound):
		slog.Error("resumable stream: reading its log", "stream", id, "err", err)
		return stream.Errorf(stream.CodeOverloaded, "stream %s cannot be read just now; retry", id)
	}
	return rs.notFound(id, "Last-Event-ID")
}

func (rs *Resumer) notFound(id, param string) *stream.Error {
	o := rs.Registry.Options()
	return &stream.Error{Code: stream.CodeNotFound, Param: param, Message: fmt.Sprintf(
		"stream %s not found: unknown, not yours, cancelled, or expired (a stream is kept %s after it ends, and cancelled %s after its client left)",
		id, o.Retain, o.Grace)}
}

// Cancel cancels the resumable stream id of ctx's caller, whatever its
// endpoint: the client stopped it on purpose, so its generation need not
// run on for the grace period. A non-nil error is for the dialect to write
// in its own shape.
func (rs *Resumer) Cancel(ctx context.Context, id string) *stream.Error {
	if !resume.ValidID(id) {
		return stream.InvalidParam("id", "%q is not the id of a resumable stream (rs_<32 hex digits>, from the %s header)", id, StreamIDHeader)
	}
	if err := rs.Registry.Cancel(id, rs.owner(ctx)); errors.Is(err, resume.ErrNotFound) {
		return rs.notFound(id, "id")
	} else if err != nil {
		slog.Error("resumable stream: cancelling", "stream", id, "err", err)
		return stream.Errorf(stream.CodeOverloaded, "stream %s cannot be cancelled just now; retry", id)
	}
	return nil
}

// follow writes c's frames to w as they come.
func (rs *Resumer) follow(w http.ResponseWriter, r *http.Request, id string, c resume.Reader) {
	defer c.Close()
	w.Header().Set(StreamIDHeader, id)
	out := rs.keeper.NewWriter(w, sse.Options{KeepAlive: rs.KeepAlive})
	defer out.Close()
	var frames [][]byte
	for {
		var err error
		frames, err = c.Next(r.Context(), frames[:0])
		for _, f := range frames {
			if out.WriteFrame(f) != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
