package gateway

import (
	"context"
	"time"

	"github.com/runnel/runnel/stream"
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
// tokens among the completion's), and max_tokens bounds the whole answer,
// the part begun included. CanContinue reports whether model (as the
// provider knows it) can; it may ask the upstream (the Ollama upstream
// renders a probe chat), so it may block for a bounded time, or learn it
// from the upstream (the Anthropic upstream, from a refused prefill). A
// resumable stream whose replica died is continued only on such a
// provider (see Continuation).
type Continuer interface {
	CanContinue(model string) bool
}

// Continuation is a call continued by this process after the one serving
// it died (a resumable stream, see package resume): the original call's
// id and start, and the answer streamed so far.
type Continuation struct {
	ID       string
	Started  time.Time
	Text     string // the output channel so far: the prefix to continue
	Thinking string // the thinking channel so far (not sent again)
}

type continuationKey struct{}

// WithContinuation returns ctx for Start to continue c: the call keeps
// c's id and start; its provider, which must be a Continuer, gets the
// request with c.Text as the assistant's answer begun, and its stream
// carries the rest; its record holds the whole answer and is stored under
// c.ID, so the call is recorded (and charged) once. A provider that
// cannot continue makes Start return ErrCannotContinue before admission.
func WithContinuation(ctx context.Context, c Continuation) context.Context {
	return context.WithValue(ctx, continuationKey{}, &c)
}

func continuationFrom(ctx context.Context) *Continuation {
	c, _ := ctx.Value(continuationKey{}).(*Continuation)
	return c
}

// ErrCannotContinue is returned by Start for a continuation whose model's
// provider is no Continuer.
var ErrCannotContinue = &stream.Error{Code: stream.CodeUpstream, Message: "the model's provider cannot continue an answer begun"}

// canContinue reports whether model routes to a provider that continues.
func (g *Gateway) canContinue(model string) bool {
	p, _, upstream, err := g.opts.Router.Route(model)
	if err != nil {
		return false
	}
	c, ok := p.(Continuer)
	return ok && c.CanContinue(upstream)
}

// withPrefix returns req's messages with text as the assistant's answer
// begun: appended to its last message if that is the assistant's already
// (the client's own prefill), else as a new one.
func withPrefix(msgs []stream.Message, text string) []stream.Message {
	out := append([]stream.Message(nil), msgs...)
	if n := len(out); n > 0 && out[n-1].Role == "assistant" {
		out[n-1].Content += text
		return out
	}
	return append(out, stream.Message{Role: "assistant", Content: text})
}
