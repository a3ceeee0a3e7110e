package gemini

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/runnel/runnel/dialect"
)

// maxEndpoints bounds the models whose endpoints of one method are kept.
// A request names one of the configured models, so a handful are called;
// a model past the bound (a client naming models freely) gets its
// endpoint made per call, as every call did before.
const maxEndpoints = 64

// endpoints is a provider's endpoints of one method (streamGenerateContent,
// countTokens) by model name, as a request names it: made once each, up
// to maxEndpoints, and read without a lock (a model's URL holds its name,
// so unlike OpenAI's or Ollama's one endpoint a provider cannot make it
// up front).
type endpoints struct {
	head, tail string       // the method's URL around the model's name (modelURL)
	header     http.Header  // every call's
	m          sync.Map     // model name → *dialect.Endpoint
	n          atomic.Int32 // entries in m, or about to be
}

// at is model's endpoint, for client.
func (es *endpoints) at(client *http.Client, model string) (*dialect.Endpoint, error) {
	if e, ok := es.m.Load(model); ok {
		return e.(*dialect.Endpoint), nil
	}
	e, err := dialect.NewEndpoint(client, es.head+modelName(model)+es.tail, es.header)
	if err != nil {
		return nil, err
	}
	// A place is taken before the store, so the bound holds under
	// concurrent calls, and given back by a call that lost the race.
	if es.n.Add(1) > maxEndpoints {
		es.n.Add(-1)
		return e, nil
	}
	if kept, loaded := es.m.LoadOrStore(model, e); loaded {
		es.n.Add(-1)
		return kept.(*dialect.Endpoint), nil
	}
	return e, nil
}
