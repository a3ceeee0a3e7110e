package gateway

import (
	"context"
	"time"
)

// Recorder is implemented by Accountants that can record a call they did
// not admit: one whose serving process died mid-stream, recorded by the
// process that found it dead (Settle). The caller's identity travels in
// ctx, as for Admit.
type Recorder interface {
	Record(ctx context.Context, rec *Record) error
}

// Settle records a call that its serving process could not finish (it
// died), from what was served: rec carries the call's id, request,
// provider, model, start, output and how it ended. Settle counts the
// usage (estimated: with the serving provider's tokenizer where it has
// one, else the Counter), prices it and hands the record to the
// Accountant if that is a Recorder. The record is stored by its id: a
// second Settle, or the serving process's own record if it was not dead
// after all, charges nothing more.
func (g *Gateway) Settle(ctx context.Context, rec *Record) error {
	var tc TokenCounter
	asked := rec.Model
	if rec.Request != nil {
		asked = rec.Request.Model
		// The provider's own tokenizer, if the model still routes to it.
		if p, name, _, err := g.opts.Router.Route(asked); err == nil && name == rec.Provider {
			tc = tokenCounter(p)
		}
	}
	rec.Usage = estimator{tc: tc, c: g.opts.Counter, model: rec.Model}.usage(rec.Request, rec.Output, rec.Thinking, rec.ToolCalls)
	if p := g.price(asked, rec.Provider, rec.Model); p != nil {
		rec.Cost = CostOf(rec.Usage, *p)
	}
	if rec.Duration == 0 && !rec.Started.IsZero() {
		rec.Duration = time.Since(rec.Started)
	}
	if r, ok := g.opts.Accountant.(Recorder); ok {
		return r.Record(ctx, rec)
	}
	return nil
}

// Continuer is implemented by providers that can continue an answer
// begun: a request whose last message is the assistant's (the text so
// far) gets the rest of the answer, as Anthropic's prefill does, with the
// usage of the whole answer (the prompt without the prefix; the prefix's
// tokens among the completion's). CanContinue reports whether model (as
// the provider knows it) can. A resumable stream whose replica died is
// continued only on such a provider (see Continuation).
type Continuer interface {
	CanContinue(model string) bool
}
