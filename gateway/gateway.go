package gateway

import (
	"context"
	"time"

	"github.com/runnel/runnel/stream"
)

// ModelInfo describes a model a client may ask for.
type ModelInfo struct {
	ID            string // the name clients use: "stories260K", "openai/gpt-4o-mini", an alias
	Provider      string
	OwnedBy       string
	Created       time.Time
	ContextLength int // 0 when unknown
	// NoStream marks a model that answers only whole responses (an image
	// model, a batch-only deployment): streamed endpoints refuse it and
	// point to the non-streaming ones. The zero value streams.
	NoStream bool
}

// StreamChecker is implemented by routers and providers that know some of
// their models cannot stream. CanStream reports whether model (as the
// implementer knows it) can; the gateway asks before a streamed call.
type StreamChecker interface {
	CanStream(model string) bool
}

// FormatChecker is implemented by providers that can honour structured
// output (stream.Request.ResponseFormat). CanFormat reports whether model
// (as the provider knows it) can answer in format t. A provider that does
// not implement it is taken to produce free text only: the gateway refuses
// JSON formats for it rather than let the field be dropped.
type FormatChecker interface {
	CanFormat(model string, t stream.FormatType) bool
}

// LogprobsChecker is implemented by providers that can report the log
// probabilities of output tokens (stream.Sampling.Logprobs), on its
// deltas (stream.Event.Logprobs). A provider that does not implement it is taken not to:
// the gateway refuses a request asking for logprobs rather than let the
// field be dropped, and a fallback chain keeps only its targets that can.
type LogprobsChecker interface {
	CanLogprobs(model string) bool
}

// Preloader is implemented by providers that load models (the engine):
// Preload loads model (as the provider knows it) ahead of its first call.
type Preloader interface {
	Preload(ctx context.Context, model string) error
}

// ModelLister is implemented by providers that can list their models.
type ModelLister interface {
	Models(ctx context.Context) ([]ModelInfo, error)
}

// Observer receives the gateway's latency and volume figures (Prometheus
// metrics in package server). Methods are called on the token path and must
// be cheap and non-blocking.
type Observer interface {
	CallStarted(provider, model string)
	FirstToken(provider, model string, ttft time.Duration)
	TokenGap(provider, model string, gap time.Duration)
	CallEnded(rec *Record)
}

// CallObserver is an Observer that resolves a call's labels once, when it
// starts: the gateway then times the call's tokens through the returned
// TokenObserver, with no lookup (and no lock shared by all streams) per
// token.
type CallObserver interface {
	Observer
	Call(provider, model string) TokenObserver
}

// TokenObserver times one call's tokens; see Observer.
type TokenObserver interface {
	FirstToken(ttft time.Duration)
	TokenGap(gap time.Duration)
}

// labelled is the TokenObserver of an Observer that is no CallObserver.
type labelled struct {
	obs             Observer
	provider, model string
}

func (l *labelled) FirstToken(d time.Duration) { l.obs.FirstToken(l.provider, l.model, d) }
func (l *labelled) TokenGap(d time.Duration)   { l.obs.TokenGap(l.provider, l.model, d) }

// tokenObserver returns obs's TokenObserver for a call, or nil.
func tokenObserver(obs Observer, provider, model string) TokenObserver {
	switch o := obs.(type) {
	case nil:
		return nil
	case CallObserver:
		return o.Call(provider, model)
	}
	return &labelled{obs, provider, model}
}

// Options configure a Gateway.
type Options struct {
	// Router resolves a request's model to a provider (usually a
	// StaticRouter); without one every model is unknown.
	Router Router
	// Accountant admits and records calls; nil admits everything.
	Accountant Accountant
	// Observer receives metrics; may be nil.
	Observer Observer
	// Prices per model, for cost.
	Prices Prices
	// BufferSize, when positive, puts every stream behind a read-ahead
	// buffer of that many events (control.Buffer), filled by a goroutine
	// of its own. Zero or negative, the default, reads each stream on the
	// caller's goroutine, as a proxy does: no hand-off per token, and
	// backpressure from the sockets themselves. Providers whose producers
	// must run ahead of the reader have their own bounded buffer (the
	// engine; config's per-provider read_ahead), as do resumable streams
	// (their session log).
	BufferSize int
	// Timeouts apply to calls whose request leaves a field zero, and bound
	// those it sets: a request may shorten a limit, never lengthen it.
	Timeouts stream.Timeouts
	// DefaultModel serves requests that name no model ("" leaves them
	// to the router, which refuses them).
	DefaultModel string
	// MaxTokens is the max_tokens of requests that set none (0: no
	// default, the provider's own applies).
	MaxTokens int
	// Counter estimates usage when a provider reports none and has no
	// tokenizer of its own (see TokenCounter). The default is
	// tokencount.Counter: tiktoken's counts for OpenAI-family models,
	// ApproxCounter's rule of thumb for the rest.
	Counter Counter
	// NewID returns call ids (default: "call_" and 24 random hex digits).
	NewID func() string
}

// Router picks the provider for a request.
type Router interface {
	// Route returns the provider for model, its name (for metrics, records
	// and the native "provider" field) and the model name that provider
	// knows. An unknown model is a CodeNotFound *stream.Error.
	Route(model string) (p stream.Provider, providerName, upstreamModel string, err error)
	ModelLister
}

// Price of a model in currency units per million tokens.
type Price struct {
	InputPerMillion  float64 `yaml:"input" json:"input"`
	OutputPerMillion float64 `yaml:"output" json:"output"`
}

// Prices maps a model name (as the client asked, or as provider/model) to its price.
type Prices map[string]Price
