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

// formatted narrows a routed provider to what can honour the JSON format
// f: a Fallback keeps only its targets that can (so a chain falls back
// past them, never to a target that would ignore the format), and a
// provider that cannot is a 400 naming it.
func formatted(p stream.Provider, provider, model string, f *stream.ResponseFormat) (stream.Provider, string, string, error) {
	fb, ok := p.(*Fallback)
	if !ok {
		if !canFormat(p, model, f.Type) {
			return nil, provider, model, stream.FormatUnsupported(provider, f)
		}
		return p, provider, model, nil
	}
	kept := &Fallback{}
	for _, t := range fb.Targets {
		if canFormat(t.Provider, t.Model, f.Type) {
			kept.Targets = append(kept.Targets, t)
		}
	}
	if len(kept.Targets) == 0 {
		names := make([]string, len(fb.Targets))
		for i, t := range fb.Targets {
			names[i] = t.Name
		}
		return nil, provider, model, stream.FormatUnsupported(strings.Join(names, ", "), f)
	}
	return kept, kept.Targets[0].Name, kept.Targets[0].Model, nil
}
