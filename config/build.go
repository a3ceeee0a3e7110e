package config

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/gemini"
	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/engine"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/stream/control"
)

// UpstreamClient returns the HTTP client upstream providers share: pooled
// connections sized for many concurrent streams to few hosts, no overall
// timeout (the stream controls bound streams), and bounded dial and
// response-header waits.
func UpstreamClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 90 * time.Second
	t.WriteBufferSize = openai.UpstreamWriteBuffer
	t.ReadBufferSize = openai.UpstreamReadBuffer
	dialect.PoolBodyCopies(t)
	return &http.Client{Transport: t}
}

// BuildProviders constructs every configured provider, keyed by its
// routing name. getenv resolves api_key_env (os.Getenv outside tests);
// client is shared by the HTTP upstreams (UpstreamClient() if nil).
func (c *Config) BuildProviders(getenv func(string) string, client *http.Client) (map[string]stream.Provider, error) {
	if client == nil {
		client = UpstreamClient()
	}
	out := make(map[string]stream.Provider, len(c.Providers))
	for _, name := range sortedKeys(c.Providers) {
		p := c.Providers[name]
		key := p.APIKeyFrom(getenv)
		if p.APIKeyEnv != "" && key == "" {
			return nil, fmt.Errorf("providers.%s.api_key_env: %s is not set", name, p.APIKeyEnv)
		}
		switch p.Type {
		case TypeMock:
			o, err := mock.ParseKnobs(p.Mock, mock.Options{})
			if err != nil {
				return nil, fmt.Errorf("providers.%s.mock: %v", name, err)
			}
			out[name] = &mock.Provider{Name: name, Options: o}
		case TypeOpenAI:
			out[name] = openai.NewProvider(openai.Config{Name: name, BaseURL: p.BaseURL, APIKey: key, Headers: p.Headers, HTTPClient: client})
		case TypeOllama:
			h := make(http.Header, len(p.Headers)+1)
			for k, v := range p.Headers {
				h.Set(k, v)
			}
			if key != "" {
				h.Set("Authorization", "Bearer "+key)
			}
			out[name] = ollama.NewProvider(ollama.Config{Name: name, BaseURL: p.BaseURL, Header: h, HTTPClient: client})
		case TypeAnthropic:
			if len(p.Headers) > 0 {
				return nil, fmt.Errorf("providers.%s.headers: the anthropic provider takes no extra headers", name)
			}
			out[name] = anthropic.NewProvider(anthropic.Config{Name: name, BaseURL: p.BaseURL, APIKey: key, HTTPClient: client})
		case TypeGemini:
			if len(p.Headers) > 0 {
				return nil, fmt.Errorf("providers.%s.headers: the gemini provider takes no extra headers", name)
			}
			out[name] = gemini.NewProvider(gemini.Config{Name: name, BaseURL: p.BaseURL, APIKey: key, HTTPClient: client})
		case TypeEngine:
			e, err := engine.New(engine.Options{ModelsDir: c.Server.ModelsDir, BufferSize: c.Gateway.BufferSize, Threads: p.Threads})
			if err != nil {
				return nil, fmt.Errorf("providers.%s: %w", name, err)
			}
			out[name] = e
		default:
			return nil, fmt.Errorf("providers.%s: a %s provider is not available in this build yet", name, p.Type)
		}
		if p.ReadAhead {
			out[name] = wrap(control.Buffer(out[name], c.Gateway.BufferSize), out[name])
		}
		switch {
		case p.Think.All:
			out[name] = wrap(control.ThinkSplit(out[name], control.DefaultThinkTags), out[name])
		case len(p.Think.Models) > 0:
			out[name] = wrap(thinkFor(out[name], p.Think.Models), out[name])
		}
	}
	return out, nil
}

// Router returns the router over providers (from BuildProviders): each
// provider under its name, the aliases with their fallbacks, the default
// provider for bare names, and the models the file lists per provider.
func (c *Config) Router(providers map[string]stream.Provider) *gateway.StaticRouter {
	r := gateway.NewStaticRouter()
	for _, name := range sortedKeys(providers) {
		r.Register(name, providers[name])
		if s := c.Providers[name].Stream; s != nil && !*s {
			r.NoStream(name)
		}
		for _, m := range c.Providers[name].Models {
			r.List(gateway.ModelInfo{ID: name + "/" + m, Provider: name, OwnedBy: name})
		}
	}
	for _, name := range sortedKeys(c.Aliases) {
		targets := make([]gateway.Target, 0, len(c.Aliases[name]))
		for _, t := range c.Aliases[name] {
			tt, _ := gateway.ParseTarget(t) // Validate checked the form
			targets = append(targets, tt)
		}
		r.Alias(name, targets...)
	}
	r.SetDefault(c.DefaultProvider())
	return r
}

// GatewayOptions returns the gateway's options from the file: prices and
// default timeouts. The buffer size goes to the providers that read ahead. The caller adds the Router, the
// Accountant and the Observer.
func (c *Config) GatewayOptions() gateway.Options {
	return gateway.Options{
		Prices:       c.Prices,
		DefaultModel: c.DefaultModel(),
		MaxTokens:    c.Gateway.MaxTokens,
		Timeouts: stream.Timeouts{
			FirstToken: c.Gateway.Timeouts.FirstToken,
			Idle:       c.Gateway.Timeouts.Idle,
			Total:      c.Gateway.Timeouts.Total,
		},
	}
}

// DefaultModel is the model of requests that name none: the configured
// one, else the engine's default (stories260K), by its bare name when the
// engine serves bare names.
func (c *Config) DefaultModel() string {
	switch {
	case c.Gateway.DefaultModel != "":
		return c.Gateway.DefaultModel
	case c.DefaultProvider() == TypeEngine:
		return models.Default
	}
	return TypeEngine + "/" + models.Default
}

// thinkFor splits inline <think> tags for the listed models only: the
// others pass through untouched, so a literal "<think>" in their output
// stays text.
func thinkFor(p stream.Provider, models []string) stream.Provider {
	split := control.ThinkSplit(p, control.DefaultThinkTags)
	set := make(map[string]bool, len(models))
	for _, m := range models {
		set[m] = true
	}
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		name, _, _ := strings.Cut(req.Model, "?") // a mock's knobs are not part of its name
		if set[name] {
			return split.Stream(ctx, req)
		}
		return p.Stream(ctx, req)
	})
}

// wrapped is a provider behind a wrapper (think splitting, a read-ahead
// buffer) that still answers, as the original, for its model list,
// tokenizer, streaming, format and logprobs abilities and Close.
type wrapped struct {
	stream.Provider                 // the wrapper
	orig            stream.Provider // what it wraps
}

func (w wrapped) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	if l, ok := w.orig.(gateway.ModelLister); ok {
		return l.Models(ctx)
	}
	return nil, nil
}

// wrap is p wrapping orig, a gateway.TokenCounter only when orig is one:
// the gateway keeps a long request for its estimate when the provider
// has a tokenizer (see gateway.LengthCounter).
func wrap(p, orig stream.Provider) stream.Provider {
	w := wrapped{p, orig}
	if _, ok := orig.(gateway.TokenCounter); ok {
		return countingWrapped{w}
	}
	return w
}

// countingWrapped is a wrapped provider whose original has a tokenizer.
type countingWrapped struct{ wrapped }

func (w countingWrapped) CountPrompt(model string, req *stream.Request) (int, bool) {
	return w.orig.(gateway.TokenCounter).CountPrompt(model, req)
}

func (w countingWrapped) CountText(model, text string) (int, bool) {
	return w.orig.(gateway.TokenCounter).CountText(model, text)
}

func (w wrapped) CanStream(model string) bool {
	if c, ok := w.orig.(gateway.StreamChecker); ok {
		return c.CanStream(model)
	}
	return true
}

func (w wrapped) Preload(ctx context.Context, model string) error {
	if l, ok := w.orig.(gateway.Preloader); ok {
		return l.Preload(ctx, model)
	}
	return nil
}

func (w wrapped) CanFormat(model string, t stream.FormatType) bool {
	c, ok := w.orig.(gateway.FormatChecker)
	return ok && c.CanFormat(model, t)
}

func (w wrapped) CanLogprobs(model string) bool {
	c, ok := w.orig.(gateway.LogprobsChecker)
	return ok && c.CanLogprobs(model)
}

func (w wrapped) Close() error {
	if c, ok := w.orig.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// KnownModels reports whether a model (as provider knows it, without a
// query string) is one this configuration names: a provider's listed
// models, an alias's targets, a priced provider/model, the default model,
// a mock provider's "default", or a model in an engine's models
// directory. Metrics label only these by name, so that names clients make
// up cannot grow the series.
func (c *Config) KnownModels(providers map[string]stream.Provider) func(provider, model string) bool {
	known := map[gateway.Target]bool{}
	add := func(s string) {
		if t, ok := gateway.ParseTarget(s); ok {
			if _, ok := providers[t.Provider]; ok {
				t.Model, _, _ = strings.Cut(t.Model, "?")
				known[t] = true
				return
			}
		}
		name, _, _ := strings.Cut(s, "?")
		known[gateway.Target{Provider: c.DefaultProvider(), Model: name}] = true
	}
	engines := map[string]gateway.ModelLister{}
	for name, p := range c.Providers {
		for _, m := range p.Models {
			add(name + "/" + m)
		}
		switch p.Type {
		case TypeMock:
			add(name + "/default")
		case TypeEngine:
			if l, ok := providers[name].(gateway.ModelLister); ok {
				engines[name] = l
			}
		}
	}
	for _, targets := range c.Aliases {
		for _, t := range targets {
			add(t)
		}
	}
	for m := range c.Prices {
		if _, alias := c.Aliases[m]; !alias {
			add(m)
		}
	}
	add(c.DefaultModel())
	return func(provider, model string) bool {
		if known[gateway.Target{Provider: provider, Model: model}] {
			return true
		}
		// An engine's models are the files in its directory, which
		// `runnel pull` may add to while the server runs.
		if l, ok := engines[provider]; ok {
			list, _ := l.Models(context.Background())
			for _, m := range list {
				if m.ID == model {
					return true
				}
			}
		}
		return false
	}
}
