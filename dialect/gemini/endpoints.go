package gemini

import (
	"sync"
	"sync/atomic"

	"github.com/runnel/runnel/dialect"
)

// maxEndpoints bounds the models whose streaming endpoint is kept. A
// request names one of the configured models, so a handful are called;
// a model past the bound (a client naming models freely) gets its
// endpoint made per call, as every call did before.
const maxEndpoints = 64

// endpoints is a provider's streaming endpoints by model name, as a
// request names it: made once each, up to maxEndpoints, and read without
// a lock (a model's URL holds its name, so unlike OpenAI's or Ollama's
// one endpoint a provider cannot make it up front).
type endpoints struct {
	m sync.Map     // model name → *dialect.Endpoint
	n atomic.Int32 // entries in m, or about to be
}

// streamEndpoint is the endpoint of model's streamGenerateContent.
func (p *Provider) streamEndpoint(model string) (*dialect.Endpoint, error) {
	if e, ok := p.streams.m.Load(model); ok {
		return e.(*dialect.Endpoint), nil
	}
	e, err := dialect.NewEndpoint(p.cfg.HTTPClient, p.streamHead+modelName(model)+p.streamTail, p.streamHeader)
	if err != nil {
		return nil, err
	}
	// A place is taken before the store, so the bound holds under
	// concurrent calls, and given back by a call that lost the race.
	if p.streams.n.Add(1) > maxEndpoints {
		p.streams.n.Add(-1)
		return e, nil
	}
	if kept, loaded := p.streams.m.LoadOrStore(model, e); loaded {
		p.streams.n.Add(-1)
		return kept.(*dialect.Endpoint), nil
	}
	return e, nil
}
