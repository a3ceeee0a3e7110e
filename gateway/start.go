package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

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

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}

// Models lists the models the router knows.
func (g *Gateway) Models(ctx context.Context) ([]ModelInfo, error) {
	return g.opts.Router.Models(ctx)
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
	started := time.Now()
	var adm Admission
	if g.opts.Accountant != nil {
		a, err := g.opts.Accountant.Admit(ctx, req)
		if err != nil {
			return nil, stream.AsError(err)
		}
		adm = a
	}
	id := g.opts.NewID()
	p, provider, model, err := g.opts.Router.Route(req.Model)
	if err == nil {
		p, provider, model, err = capableFor(p, provider, model, req)
	}
	if err != nil {
		return nil, g.failed(adm, id, req, provider, model, started, stream.AsError(err))
	}

	up := req.Clone()
	up.Model = model
	o := control.FromRequest(up, g.opts.BufferSize)
	o.Timeouts = withDefaults(req.Timeouts, g.opts.Timeouts)

	ctx, cancel := context.WithCancel(ctx)
	sv := &served{provider: provider, model: model, p: p}
	ctx = context.WithValue(ctx, servedKey{}, sv)
	s, err := control.Apply(p, o).Stream(ctx, up)
	if err != nil {
		cancel()
		return nil, g.failed(adm, id, req, sv.provider, sv.model, started, stream.AsError(err))
	}
	m := &meter{
		g: g, in: s, cancel: cancel, adm: adm, tc: tokenCounter(sv.p),
		rec:        Record{ID: id, Request: req, Provider: sv.provider, Model: sv.model, Started: started},
		prices:     g.price(req.Model, sv.provider, sv.model),
		tokens:     tokenObserver(g.opts.Observer, sv.provider, sv.model),
		beforeWait: stream.BeforeWait(ctx),
	}
	if adm != nil {
		m.warnings = adm.Warnings()
	}
	if obs := g.opts.Observer; obs != nil {
		obs.CallStarted(sv.provider, sv.model)
	}
	c := NewCall(m, id, sv.provider, sv.model, started, m.summary)
	// With a read-ahead buffer, the provider's reads (and its BeforeWait
	// calls) run on the buffer's goroutine, not the reader's.
	if n, ok := sv.p.(stream.WaitNotifier); ok && g.opts.BufferSize <= 0 {
		c.FlushOnWait = n.NotifiesBeforeWait()
	}
	return c, nil
}

// failed records a call that ended before its stream started.
func (g *Gateway) failed(adm Admission, id string, req *stream.Request, provider, model string, started time.Time, e *stream.Error) *stream.Error {
	status := "error"
	switch e.Code {
	case stream.CodeCancelled:
		status = "cancelled"
	case stream.CodeTimeout:
		status = "timeout"
	}
	rec := &Record{ID: id, Request: req, Provider: provider, Model: model, Started: started,
		Duration: time.Since(started), Finish: stream.FinishError, Status: status, Err: e}
	if obs := g.opts.Observer; obs != nil {
		obs.CallStarted(provider, model)
		obs.CallEnded(rec)
	}
	if adm != nil {
		adm.Done(rec)
	}
	return e
}

func withDefaults(t, def stream.Timeouts) stream.Timeouts {
	if t.FirstToken == 0 {
		t.FirstToken = def.FirstToken
	}
	if t.Idle == 0 {
		t.Idle = def.Idle
	}
	if t.Total == 0 {
		t.Total = def.Total
	}
	return t
}

// price looks the model up by the name the client used, then without a
// query string (mock knobs), then as provider/model.
func (g *Gateway) price(asked, provider, model string) *Price {
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
