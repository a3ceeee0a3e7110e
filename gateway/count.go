package gateway

import (
	"context"
	"errors"

	"github.com/runnel/runnel/stream"
)

// PromptCounter is implemented by providers that can say exactly how many
// prompt tokens a request takes on one of their models, before serving it:
// the engine with the model's own template and tokenizer, an Anthropic
// upstream with its count_tokens endpoint, a Gemini upstream with its
// countTokens. req.Model is the provider's name for the model. The count
// is the PromptTokens a call with req would report: where the provider
// continues an answer begun (a final assistant message, see Continuer),
// that answer counts as output, as its usage counts it; Gemini's usage
// counts a final model turn as prompt, and so does its count.
type PromptCounter interface {
	CountTokens(ctx context.Context, req *stream.Request) (int, error)
}

// CountAdmitter is implemented by Accountants that limit token counting.
// AdmitCount admits one count by the caller ctx carries, or refuses it
// with a *stream.Error (unauthorized, rate_limited with RetryAfter). A
// count is never charged nor recorded, so it has no Admission.
type CountAdmitter interface {
	AdmitCount(ctx context.Context) error
}

// CountTokens returns the prompt tokens req would report in its usage on
// the model it routes to, counted by that model's provider, without
// serving, admitting or recording a call. An alias with fallbacks is
// counted on its first target, the one that serves it while it is up.
// The Accountant, if it is a CountAdmitter, admits the count first. A
// provider that cannot count exactly (an OpenAI-compatible upstream has
// no counting endpoint) is refused with CodeUnsupported: an estimate
// would pass for the real count.
func (g *Gateway) CountTokens(ctx context.Context, req *stream.Request) (int, error) {
	if a, ok := g.opts.Accountant.(CountAdmitter); ok {
		if err := a.AdmitCount(ctx); err != nil {
			return 0, stream.AsError(err)
		}
	}
	if req.Model == "" && g.opts.DefaultModel != "" {
		req = withModel(req, g.opts.DefaultModel)
	}
	p, provider, model, err := g.opts.Router.Route(req.Model)
	if err != nil {
		return 0, stream.AsError(err)
	}
	if fb, ok := p.(*Fallback); ok && len(fb.Targets) > 0 {
		p, provider, model = fb.Targets[0].Provider, fb.Targets[0].Name, fb.Targets[0].Model
	}
	c, ok := p.(PromptCounter)
	if !ok {
		return 0, stream.Errorf(stream.CodeUnsupported, "model %s is served by %s, which cannot count tokens; token counting is available for the built-in engine's models and for Anthropic and Gemini upstreams", req.Model, provider)
	}
	up := req.Clone()
	up.Model = model
	n, err := c.CountTokens(ctx, up)
	if err != nil {
		var se *stream.Error
		if !errors.As(err, &se) {
			return 0, &stream.Error{Code: stream.CodeUpstream, Message: "counting tokens with " + provider + " failed", Err: err}
		}
		return 0, se
	}
	return n, nil
}
