package gateway

import (
	"strings"

	"github.com/runnel/runnel/stream"
)

// canFormat reports whether p can answer model in format t (see
// FormatChecker).
func canFormat(p stream.Provider, model string, t stream.FormatType) bool {
	c, ok := p.(FormatChecker)
	return ok && c.CanFormat(model, t)
}

// canLogprobs reports whether p can report model's token logprobs (see
// LogprobsChecker).
func canLogprobs(p stream.Provider, model string) bool {
	c, ok := p.(LogprobsChecker)
	return ok && c.CanLogprobs(model)
}

// capable narrows a routed provider to what can serve a request needing a
// capability (a JSON format, logprobs): a Fallback keeps only its targets
// that can (so a chain falls back past them, never to a target that would
// drop the field), and a provider that cannot is refuse's 400, given the
// names of the providers that could not.
func capable(p stream.Provider, provider, model string, can func(p stream.Provider, model string) bool,
	refuse func(names string) *stream.Error) (stream.Provider, string, string, error) {
	fb, ok := p.(*Fallback)
	if !ok {
		if !can(p, model) {
			return nil, provider, model, refuse(provider)
		}
		return p, provider, model, nil
	}
	kept := &Fallback{}
	for _, t := range fb.Targets {
		if can(t.Provider, t.Model) {
			kept.Targets = append(kept.Targets, t)
		}
	}
	if len(kept.Targets) == 0 {
		names := make([]string, len(fb.Targets))
		for i, t := range fb.Targets {
			names[i] = t.Name
		}
		return nil, provider, model, refuse(strings.Join(names, ", "))
	}
	return kept, kept.Targets[0].Name, kept.Targets[0].Model, nil
}

// capableFor narrows p to what can honour everything req asks of it:
// a JSON response format, logprobs.
func capableFor(p stream.Provider, provider, model string, req *stream.Request) (stream.Provider, string, string, error) {
	var err error
	if f := req.ResponseFormat; f.IsJSON() {
		p, provider, model, err = capable(p, provider, model,
			func(p stream.Provider, m string) bool { return canFormat(p, m, f.Type) },
			func(names string) *stream.Error { return stream.FormatUnsupported(names, f) })
		if err != nil {
			return nil, provider, model, err
		}
	}
	if req.Sampling.Logprobs {
		p, provider, model, err = capable(p, provider, model, canLogprobs, stream.LogprobsUnsupported)
	}
	return p, provider, model, err
}
