package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/randbuf"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/stream/control"
	"github.com/runnel/runnel/tokencount"
)

// Gateway admits, routes, controls and meters calls. It implements
// dialect.Gateway.
type Gateway struct {
	opts Options
}

// New returns a Gateway. Without a Router every model is unknown.
func New(o Options) *Gateway {
	if o.Router == nil {
		o.Router = NewStaticRouter()
	}
	if o.Counter == nil {
		o.Counter = tokencount.Counter{}
	}
	if o.NewID == nil {
		o.NewID = newID
	}
	if o.BufferSize <= 0 {
		o.BufferSize = -1 // control.Apply's "no buffer"
	}
	return &Gateway{opts: o}
}

// callIDs makes the default call ids: eight strings in one allocation
// (a record keeps its id's block, at most eight ids' bytes).
var callIDs = randbuf.NewPrefixed("call_")

func newID() string { return callIDs.Next() }

// Models lists the models the router knows.
func (g *Gateway) Models(ctx context.Context) ([]ModelInfo, error) {
	return g.opts.Router.Models(ctx)
}

// Preload routes model ("" for the default model) and, if its provider
// loads models (Preloader), loads it now. A model the router does not know
// is an error; one whose provider has nothing to load is not.
func (g *Gateway) Preload(ctx context.Context, model string) error {
	if model == "" {
		model = g.opts.DefaultModel
	}
	p, _, upstream, err := g.opts.Router.Route(model)
	if err != nil {
		return err
	}
	if l, ok := p.(Preloader); ok {
		return l.Preload(ctx, upstream)
	}
	return nil
}

// CanStream reports whether model can be streamed: false when the router
// (a StaticRouter: its provider, or any target of its alias, is marked
// NoStream, or says so itself) knows it cannot. Dialects ask it before a
// streamed call and answer a 400 pointing to their non-streaming form; the
// non-streaming endpoints serve such a model through Start as usual.
func (g *Gateway) CanStream(model string) bool {
	c, ok := g.opts.Router.(StreamChecker)
	return !ok || c.CanStream(model)
}

// Start admits req, routes it, starts the provider's stream behind the
// pipeline controls (req's stop sequences, max_tokens and timeouts, with
// Options.Timeouts filling those req leaves unset, and a buffer only if
// Options.BufferSize asks for one) and meters it. Errors known before the first
// token are returned as *stream.Error; they are recorded too, once
// admitted. The returned Call must be closed.
func (g *Gateway) Start(ctx context.Context, req *stream.Request) (*Call, error) {
	cs, err := g.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	s, err := g.open(cs)
	if err != nil {
		return nil, g.notStarted(cs, err)
	}
	return g.newCall(cs, s), nil
}

// callState is a started call's state, in one allocation rather than a
// dozen small ones (docs/benchmarks.md, issue 13, callalloc session): the
// meter (and the record in it), the Call the dialect reads, what served
// it and the context the provider gets. The request as sent upstream is
// not in it: nothing keeps that once the provider sent it, and an open
// stream should not hold it (TestOpenStreamsHoldLessHeapThanTheProxy).
// Start's frame is on the stack while the provider encodes and sends its
// request (an Anthropic body's JSON is a few KiB deep), and its caller's
// frames stay there for the whole stream, so the work is done out of
// line, by begin and newCall, and Start keeps only the pointer (issue 13:
// an 8 KiB stack per stream).
//
// The text controls come first: a plain call's are opened here (not an
// allocation of their own, an object less that a token reaches through a
// pointer: docs/benchmarks.md, issue 13, fewobj session), and what a
// token reads of them, their last 48 bytes, then shares a cache line with
// the meter's first field, tin, which points to them (an allocation this
// size has an 8-byte header before it, and its slot starts a line).
type callState struct {
	text control.Text
	m    meter
	call Call
	sv   served
	ctx  callCtx
	up   *stream.Request
	cont *Continuation
}

// callCtx is the provider's context: the call's own cancellation, and the
// served value a Fallback fills in, in the call's state (not a
// context.WithValue of its own).
type callCtx struct {
	context.Context
	sv  *served
	mem *requestMemory // offered to the provider, or nil
}

func (c *callCtx) Value(key any) any {
	switch key {
	case servedKey{}:
		return c.sv
	case memoryKey{}: // the dialect's offer is the gateway's to pass on
		if c.mem == nil {
			return nil
		}
		return c.mem
	}
	return c.Context.Value(key)
}

// begin admits and routes req for Start; an error is Start's.
//
//go:noinline
func (g *Gateway) begin(ctx context.Context, req *stream.Request) (*callState, error) {
	started := time.Now()
	if req.Model == "" && g.opts.DefaultModel != "" {
		req = withModel(req, g.opts.DefaultModel)
	}
	cont := continuationFrom(ctx)
	if cont != nil && !g.canContinue(req.Model) {
		return nil, ErrCannotContinue
	}
	var adm Admission
	if g.opts.Accountant != nil {
		a, err := g.opts.Accountant.Admit(ctx, req)
		if err != nil {
			return nil, stream.AsError(err)
		}
		adm = a
	}
	id := g.opts.NewID()
	if cont != nil {
		id, started = cont.ID, cont.Started
	}
	p, provider, model, err := g.opts.Router.Route(req.Model)
	if err == nil {
		p, provider, model, err = capableFor(p, provider, model, req)
	}
	if err != nil {
		return nil, g.failed(adm, id, req, provider, model, started, cont, stream.AsError(err))
	}

	cs := new(callState)
	// A shallow copy: the gateway sets its Model, MaxTokens and (for a
	// continuation) Messages; providers only read what it shares with
	// req, the messages, tools, stop sequences, metadata and format
	// (TestProvidersLeaveTheRequestAsItWas). A deep copy (Clone) was
	// one more allocation and a copy of the messages a call.
	up := new(stream.Request)
	*up = *req
	cs.up = up
	up.Model = model
	if up.Sampling.MaxTokens == 0 {
		up.Sampling.MaxTokens = g.opts.MaxTokens
	}
	if cont != nil {
		up.Messages = withPrefix(up.Messages, cont.Text)
	}
	ctx, cancel := context.WithCancel(ctx)
	cs.sv = served{provider: provider, model: model, p: p}
	cs.ctx = callCtx{Context: ctx, sv: &cs.sv}
	cs.m.cancel, cs.m.adm = cancel, adm
	cs.m.rec = Record{ID: id, Request: req, Started: started}
	cs.cont = cont
	return cs, nil
}

// notStarted records a call whose provider refused to start it.
//
//go:noinline
func (g *Gateway) notStarted(cs *callState, err error) error {
	cs.m.cancel()
	r := &cs.m.rec
	if m := cs.ctx.mem; m != nil && m.state.Load() == memoryReleased {
		r.Request = nil // its texts are gone (WithRequestMemory)
	}
	return g.failed(cs.m.adm, r.ID, r.Request, cs.sv.provider, cs.sv.model, r.Started, cs.cont, stream.AsError(err))
}

// newCall meters the stream s that Start opened.
//
//go:noinline
func (g *Gateway) newCall(cs *callState, s stream.Stream) *Call {
	sv, cont, m := &cs.sv, cs.cont, &cs.m
	req := m.rec.Request
	m.g, m.in, m.tc = g, s, tokenCounter(sv.p)
	m.rec.Provider, m.rec.Model = sv.provider, sv.model
	m.prices = g.price(req.Model, sv.provider, sv.model)
	m.tokens = tokenObserver(g.opts.Observer, sv.provider, sv.model)
	m.beforeWait = stream.BeforeWait(&cs.ctx)
	released := cs.letGoOfRequest()
	if cont != nil {
		// The record holds the whole answer; its first token came long ago.
		m.out.WriteString(cont.Text)
		m.tho.WriteString(cont.Thinking)
		m.last, m.hasLast = time.Since(m.rec.Started), true
	}
	if m.adm != nil {
		m.warnings = m.adm.Warnings()
	}
	if obs := g.opts.Observer; obs != nil {
		obs.CallStarted(sv.provider, sv.model)
	}
	c := &cs.call
	*c = Call{Stream: m, ID: m.rec.ID, Provider: sv.provider, Model: sv.model, Started: m.rec.Started, Request: req, m: m}
	if released {
		c.Request = nil
	}
	// With a read-ahead buffer, the provider's reads (and its BeforeWait
	// calls) run on the buffer's goroutine, not the reader's.
	if n, ok := sv.p.(stream.WaitNotifier); ok && g.opts.BufferSize <= 0 {
		c.FlushOnWait = n.NotifiesBeforeWait()
	}
	return c
}

// The two helpers below keep their large values (a request, the
// controls' options) out of Start's frame (see starting).

// withModel is req with model.
//
//go:noinline
func withModel(req *stream.Request, model string) *stream.Request {
	r := *req
	r.Model = model
	return &r
}

// open opens the provider's stream behind the controls the request asks
// for.
//
//go:noinline
func (g *Gateway) open(cs *callState) (stream.Stream, error) {
	up := cs.up
	cs.up = nil // see callState
	o := control.FromRequest(up, g.opts.BufferSize)
	o.Timeouts = withDefaults(cs.m.rec.Request.Timeouts, g.opts.Timeouts)
	cs.offerMemory(g)
	return cs.text.Open(&cs.ctx, cs.sv.p, o, up)
}

// failed records a call that ended before its stream started.
// A continuation's record still holds what was served before, with its
// usage.
func (g *Gateway) failed(adm Admission, id string, req *stream.Request, provider, model string, started time.Time, cont *Continuation, e *stream.Error) *stream.Error {
	status := "error"
	switch e.Code {
	case stream.CodeCancelled:
		status = "cancelled"
	case stream.CodeTimeout:
		status = "timeout"
	}
	rec := &Record{ID: id, Request: req, Provider: provider, Model: model, Started: started,
		Duration: time.Since(started), Finish: stream.FinishError, Status: status, Err: e}
	if cont != nil {
		rec.Output, rec.Thinking = cont.Text, cont.Thinking
		rec.Usage = estimator{c: g.opts.Counter, model: model}.usage(req, rec.Output, rec.Thinking, nil)
		if p := g.price(req.Model, provider, model); p != nil {
			rec.Cost = CostOf(rec.Usage, *p)
		}
	}
	if obs := g.opts.Observer; obs != nil {
		obs.CallStarted(provider, model)
		obs.CallEnded(rec)
	}
	if adm != nil {
		adm.Done(rec)
	}
	return e
}

// withDefaults fills the limits t leaves zero from def, and caps those it
// sets at def's: a caller may ask for less time than the server allows
// (seed 003's timeout_ms), not more.
func withDefaults(t, def stream.Timeouts) stream.Timeouts {
	limit := func(asked, server time.Duration) time.Duration {
		if asked == 0 || (server > 0 && asked > server) {
			return server
		}
		return asked
	}
	return stream.Timeouts{
		FirstToken: limit(t.FirstToken, def.FirstToken),
		Idle:       limit(t.Idle, def.Idle),
		Total:      limit(t.Total, def.Total),
	}
}

// price looks the model up by the name the client used, then without a
// query string (mock knobs), then as provider/model.
func (g *Gateway) price(asked, provider, model string) *Price {
	if len(g.opts.Prices) == 0 {
		return nil // spares every call the joined names
	}
	names := [...]string{asked, trimQuery(asked), provider + "/" + model, provider + "/" + trimQuery(model)}
	for _, n := range names {
		if p, ok := g.opts.Prices[n]; ok {
			return &p
		}
	}
	return nil
}

func trimQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

// CostOf prices usage: tokens times the price per million, per side.
func CostOf(u stream.Usage, p Price) Cost {
	c := Cost{
		Input:  float64(u.PromptTokens) * p.InputPerMillion / 1e6,
		Output: float64(u.CompletionTokens) * p.OutputPerMillion / 1e6,
	}
	c.Total = c.Input + c.Output
	return c
}
