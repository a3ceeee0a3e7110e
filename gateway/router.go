package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/runnel/runnel/stream"
)

// Target is one place a model name can go: a registered provider and the
// model as that provider knows it.
type Target struct {
	Provider string
	Model    string
}

// ParseTarget splits "provider/model" (the model may contain more slashes).
func ParseTarget(s string) (Target, bool) {
	p, m, ok := strings.Cut(s, "/")
	if !ok || p == "" || m == "" {
		return Target{}, false
	}
	return Target{Provider: p, Model: m}, true
}

// StaticRouter routes by a fixed table, in this order:
//
//  1. an alias, exactly as configured: its first target serves the call and
//     the others are fallbacks (see Fallback);
//  2. "provider/model" where provider is registered: straight to it, with the
//     prefix stripped ("openai/gpt-4o-mini" → openai, "gpt-4o-mini";
//     "mock/default?tokens=5" → mock, "default?tokens=5");
//  3. anything else to the default provider, if one is set, unchanged (so
//     "stories260K" or "meta-llama/Llama-3.1-8B" reach it as they are).
//
// Anything else is a CodeNotFound error naming the model. It is safe for
// concurrent use; set it up before serving.
type StaticRouter struct {
	mu        sync.RWMutex
	providers map[string]stream.Provider
	aliases   map[string]alias
	def       string
	listed    []ModelInfo
	noStream  map[string]bool // providers whose models cannot stream

	// routed remembers what Route and CanStream answered for the model
	// names routed so far (at most maxRouted): a call's two questions,
	// each a lock, a name's parse and up to four map look-ups, become
	// one look-up (docs/benchmarks.md, issue 13, callfoot session). Any
	// change to the table forgets them all.
	routed atomic.Pointer[map[string]*route]
}

// route is a model name's Route answer, and CanStream's when no target's
// provider is a StreamChecker (whose answer may change: it is asked
// every call).
type route struct {
	p               stream.Provider
	provider, model string
	streams         bool
	asks            bool // a target is a StreamChecker: CanStream asks it
}

// maxRouted bounds the model names remembered, and maxRoutedName their
// length: names come from clients, and past the bounds they are routed
// as before.
const (
	maxRouted     = 256
	maxRoutedName = 256
)

// lookup is model's remembered route, or nil.
func (r *StaticRouter) lookup(model string) *route {
	if m := r.routed.Load(); m != nil {
		return (*m)[model]
	}
	return nil
}

// remember routes model and keeps the answer, when it is a route (not an
// error) and there is room; it returns the route, or nil.
//
//go:noinline
func (r *StaticRouter) remember(model string) *route {
	if len(model) > maxRoutedName {
		return nil
	}
	// A copy: the name may be a view of a request body that goes back
	// to its pool, and the route's model may be a part of it.
	model = strings.Clone(model)
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, provider, upstream, err := r.route(model)
	if err != nil {
		return nil
	}
	e := &route{p: p, provider: provider, model: upstream}
	e.streams, e.asks = r.canStream(model, false)
	for {
		old := r.routed.Load()
		if old != nil && len(*old) >= maxRouted {
			return e
		}
		m := make(map[string]*route, 1)
		if old != nil {
			m = maps.Clone(*old)
		}
		m[model] = e
		if r.routed.CompareAndSwap(old, &m) {
			return e
		}
	}
}

// forget drops the remembered routes; called with r.mu held, when the
// table changes.
func (r *StaticRouter) forget() { r.routed.Store(nil) }

// NewStaticRouter returns an empty router.
func NewStaticRouter() *StaticRouter {
	return &StaticRouter{providers: map[string]stream.Provider{}, aliases: map[string]alias{}}
}

// alias is a configured alias, with what Route answers for it made when
// it was configured or a provider registered (not per call, where the
// Fallback and its targets were three allocations).
type alias struct {
	targets []Target
	// p is the one target's provider or a Fallback over them all, shared
	// by the alias's calls (a Fallback is not changed once made); nil
	// while err says which target's provider is not registered.
	p   stream.Provider
	err string
}

// resolve makes name's alias over targets with the providers registered
// now. Called with r.mu held.
func (r *StaticRouter) resolve(name string, targets []Target) alias {
	a := alias{targets: targets}
	if len(targets) == 0 {
		a.err = fmt.Sprintf("model %q: alias has no targets", name)
		return a
	}
	fb := &Fallback{Targets: make([]FallbackTarget, 0, len(targets))}
	for _, t := range targets {
		p, ok := r.providers[t.Provider]
		if !ok {
			a.err = fmt.Sprintf("model %q: alias target provider %q is not configured", name, t.Provider)
			return a
		}
		fb.Targets = append(fb.Targets, FallbackTarget{Name: t.Provider, Model: t.Model, Provider: p})
	}
	a.p = fb
	if len(fb.Targets) == 1 {
		a.p = fb.Targets[0].Provider
	}
	return a
}

// Register adds a provider under name, the prefix clients route with.
func (r *StaticRouter) Register(name string, p stream.Provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.providers[name] = p
	for alias, a := range r.aliases {
		r.aliases[alias] = r.resolve(alias, a.targets)
	}
	r.forget()
}

// Alias makes name route to targets, the first serving and the rest as
// fallbacks in order. Each target's provider must be registered by the
// time the alias is used.
func (r *StaticRouter) Alias(name string, targets ...Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.aliases[name] = r.resolve(name, slices.Clone(targets))
	r.forget()
}

// NoStream marks every model of provider as unable to stream (see
// ModelInfo.NoStream).
func (r *StaticRouter) NoStream(provider string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.noStream == nil {
		r.noStream = map[string]bool{}
	}
	r.noStream[provider] = true
	r.forget()
}

// CanStream implements StreamChecker: model routes (as Route would) to a
// provider not marked NoStream that, if it is a StreamChecker itself,
// says the model can stream. An alias streams only if every target does,
// since any of them may serve the call. Unknown models report true, so
// the call goes on to fail with Route's own error.
func (r *StaticRouter) CanStream(model string) bool {
	e := r.lookup(model)
	if e == nil {
		e = r.remember(model)
	}
	if e != nil && !e.asks {
		return e.streams
	}
	return r.canStreamLocked(model)
}

// canStreamLocked is CanStream without a remembered answer.
//
//go:noinline
func (r *StaticRouter) canStreamLocked(model string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ok, _ := r.canStream(model, true)
	return ok
}

// canStream is CanStream's answer, with r.mu held, and whether a
// target's provider is a StreamChecker; ask says to ask such a provider
// (else it is taken to stream).
func (r *StaticRouter) canStream(model string, ask bool) (streams, asks bool) {
	if a, ok := r.aliases[model]; ok {
		streams = true
		for _, t := range a.targets {
			s, k := r.targetStreams(t, ask)
			streams, asks = streams && s, asks || k
		}
		return streams, asks
	}
	if t, ok := ParseTarget(model); ok {
		if _, ok := r.providers[t.Provider]; ok {
			return r.targetStreams(t, ask)
		}
	}
	if _, ok := r.providers[r.def]; ok && model != "" {
		return r.targetStreams(Target{Provider: r.def, Model: model}, ask)
	}
	return true, false
}

func (r *StaticRouter) targetStreams(t Target, ask bool) (streams, asks bool) {
	if r.noStream[t.Provider] {
		return false, false
	}
	c, ok := r.providers[t.Provider].(StreamChecker)
	if !ok {
		return true, false
	}
	return !ask || c.CanStream(t.Model), true
}

// SetDefault names the provider for model names no other rule matches.
func (r *StaticRouter) SetDefault(provider string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.def = provider
	r.forget()
}

// List adds models to Models' answer, for names a provider cannot list
// itself (configured model names).
func (r *StaticRouter) List(models ...ModelInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listed = append(r.listed, models...)
}

// Route implements Router.
func (r *StaticRouter) Route(model string) (stream.Provider, string, string, error) {
	e := r.lookup(model)
	if e == nil {
		e = r.remember(model)
	}
	if e != nil {
		return e.p, e.provider, e.model, nil
	}
	return r.routeLocked(model)
}

// routeLocked is Route without a remembered route (an error).
//
//go:noinline
func (r *StaticRouter) routeLocked(model string) (stream.Provider, string, string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.route(model)
}

// route is Route's answer, with r.mu held.
func (r *StaticRouter) route(model string) (stream.Provider, string, string, error) {
	if a, ok := r.aliases[model]; ok {
		if a.p == nil {
			return nil, "", "", &stream.Error{Code: stream.CodeInternal, Message: a.err}
		}
		return a.p, a.targets[0].Provider, a.targets[0].Model, nil
	}
	if t, ok := ParseTarget(model); ok {
		if p, ok := r.providers[t.Provider]; ok {
			return p, t.Provider, t.Model, nil
		}
	}
	if p, ok := r.providers[r.def]; ok && model != "" {
		return p, r.def, model, nil
	}
	if model == "" {
		return nil, "", "", stream.InvalidParam("model", "model is required")
	}
	return nil, "", "", &stream.Error{Code: stream.CodeNotFound, Param: "model",
		Message: "model " + quote(model) + " not found: use an alias, a provider/model name (providers: " +
			strings.Join(r.names(), ", ") + ") or one of GET /v1/models"}
}

func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return `"` + s + `"`
}

func (r *StaticRouter) names() []string {
	names := make([]string, 0, len(r.providers))
	for n := range r.providers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Models lists the aliases, the configured names, and what each provider
// that is a ModelLister reports, prefixed with the provider's name. A
// provider whose listing fails is left out: one unreachable upstream must
// not break the list.
func (r *StaticRouter) Models(ctx context.Context) ([]ModelInfo, error) {
	r.mu.RLock()
	out := slices.Clone(r.listed)
	for i := range out {
		out[i].NoStream = out[i].NoStream || r.noStream[out[i].Provider]
	}
	for name, a := range r.aliases {
		if len(a.targets) == 0 {
			continue
		}
		m := ModelInfo{ID: name, Provider: a.targets[0].Provider, OwnedBy: "runnel"}
		for _, t := range a.targets {
			streams, _ := r.targetStreams(t, true)
			m.NoStream = m.NoStream || !streams
		}
		out = append(out, m)
	}
	type lister struct {
		name string
		l    ModelLister
	}
	var listers []lister
	for _, name := range r.names() {
		if l, ok := r.providers[name].(ModelLister); ok {
			listers = append(listers, lister{name, l})
		}
	}
	noStream := maps.Clone(r.noStream)
	r.mu.RUnlock()

	for _, l := range listers {
		models, err := l.l.Models(ctx)
		if err != nil {
			continue
		}
		for _, m := range models {
			if !strings.HasPrefix(m.ID, l.name+"/") {
				m.ID = l.name + "/" + m.ID
			}
			if m.Provider == "" {
				m.Provider = l.name
			}
			m.NoStream = m.NoStream || noStream[l.name]
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b ModelInfo) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b ModelInfo) bool { return a.ID == b.ID }), nil
}
