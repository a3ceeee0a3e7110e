// Package metrics exports the gateway's latency and volume figures as
// Prometheus metrics. *Metrics implements gateway.Observer.
package metrics

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/runnel/runnel/gateway"
)

// maxModels bounds the model label's cardinality when no Options.Known is
// set: past it, new models are counted under "other". Model names come
// from clients (and mock knobs ride in a query string), so they must not
// grow the series without bound.
const maxModels = 500

// Options configure Metrics.
type Options struct {
	// Known reports whether a model (as its provider knows it, without a
	// query string) is configured for provider: only those get series of
	// their own, every other name is counted under model "other", so that
	// clients asking for names that do not exist add no series. nil
	// admits the first 500 names.
	Known func(provider, model string) bool
}

// Latency buckets in seconds: from tens of microseconds (gateway overhead,
// inter-token gaps of fast models) to minutes (long generations).
var (
	tokenBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	callBuckets  = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
)

// Metrics is a gateway.Observer backed by Prometheus collectors.
type Metrics struct {
	reg *prometheus.Registry

	ttft     *prometheus.HistogramVec
	itl      *durationHistVec // per token: see durationHistVec
	e2e      *prometheus.HistogramVec
	tpot     *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	requests *prometheus.CounterVec
	active   *prometheus.GaugeVec

	known  func(provider, model string) bool
	mu     sync.RWMutex
	series map[key]*series
	models map[string]bool
	// last is the series get returned last, when the map keeps it: most
	// calls are for the pair the one before was, and comparing two
	// strings is a fraction of hashing them (get is asked twice as a
	// call starts and once as it ends).
	last atomic.Pointer[series]
}

type key struct{ provider, model string }

// series caches the children of one (model, provider) pair so that the
// per-token path is a map lookup under a read lock, with no label hashing
// and no allocation.
type series struct {
	ttft, e2e, tpot prometheus.Observer
	// itl is the ITL's histogram, which is also the calls'
	// gateway.TokenObserver (it times their first tokens in ttft).
	itl                *durationHist
	prompt, completion prometheus.Counter
	active             prometheus.Gauge
	provider, model    string
	k                  key // what get was asked
	// ok is requests_total's child for this pair's status "ok", made at
	// the first call that ends so (a child made earlier would show a zero
	// the exposition did not have): CallEnded looks up no labels then.
	ok atomic.Pointer[prometheus.Counter]
}

var _ gateway.CallObserver = (*Metrics)(nil)

// New returns Metrics on a fresh registry that also carries the Go runtime
// and process collectors.
func New() *Metrics { return NewWith(Options{}) }

// NewWith is New with options.
func NewWith(o Options) *Metrics {
	labels := []string{"model", "provider"}
	m := &Metrics{
		known: o.Known,
		reg:   prometheus.NewRegistry(),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "runnel", Name: "time_to_first_token_seconds",
			Help:    "Time from the gateway accepting a call to its first content event.",
			Buckets: tokenBuckets,
		}, labels),
		itl: newDurationHistVec(prometheus.HistogramOpts{
			Namespace: "runnel", Name: "inter_token_latency_seconds",
			Help:    "Gap between consecutive content events of a call.",
			Buckets: tokenBuckets,
		}, [2]string{"model", "provider"}),
		e2e: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "runnel", Name: "request_duration_seconds",
			Help:    "End-to-end duration of a call, from acceptance to its last event.",
			Buckets: callBuckets,
		}, labels),
		tpot: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "runnel", Name: "time_per_output_token_seconds",
			Help:    "Per call, the time after the first content event divided by the output tokens after the first (TPOT).",
			Buckets: tokenBuckets,
		}, labels),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Name: "tokens_total",
			Help: "Tokens processed, by type (prompt or completion).",
		}, []string{"model", "provider", "type"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Name: "requests_total",
			Help: "Calls ended, by status (ok, error, cancelled, timeout).",
		}, []string{"model", "provider", "status"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "runnel", Name: "active_streams",
			Help: "Calls in progress.",
		}, labels),
		series: make(map[key]*series),
		models: make(map[string]bool),
	}
	m.reg.MustRegister(m.ttft, m.itl, m.e2e, m.tpot, m.tokens, m.requests, m.active,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where other packages may register their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *Metrics) get(provider, model string) *series {
	if s := m.last.Load(); s != nil && s.k.provider == provider && s.k.model == model {
		return s
	}
	k := key{provider, model}
	m.mu.RLock()
	s := m.series[k]
	m.mu.RUnlock()
	if s != nil {
		m.last.Store(s)
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.series[k]; s != nil {
		return s
	}
	label := modelLabel(model)
	if m.known != nil {
		if !m.known(provider, label) {
			label = "other"
		}
	} else if !m.models[label] {
		if len(m.models) >= maxModels {
			label = "other"
		}
		m.models[label] = true
	}
	ttft := m.ttft.WithLabelValues(label, provider)
	s = &series{
		ttft:       ttft,
		itl:        m.itl.with(label, provider, ttft),
		e2e:        m.e2e.WithLabelValues(label, provider),
		tpot:       m.tpot.WithLabelValues(label, provider),
		prompt:     m.tokens.WithLabelValues(label, provider, "prompt"),
		completion: m.tokens.WithLabelValues(label, provider, "completion"),
		active:     m.active.WithLabelValues(label, provider),
		provider:   provider,
		model:      label,
		k:          k,
	}
	if len(m.series) < 4*maxModels {
		m.series[k] = s
		m.last.Store(s)
	}
	return s
}

// modelLabel drops a query string (the mock's knobs) from a model name.
func modelLabel(model string) string {
	if i := strings.IndexByte(model, '?'); i >= 0 {
		model = model[:i]
	}
	if model == "" {
		return "unknown"
	}
	return model
}

// CallStarted implements gateway.Observer.
func (m *Metrics) CallStarted(provider, model string) { m.get(provider, model).active.Inc() }

// FirstToken implements gateway.Observer.
func (m *Metrics) FirstToken(provider, model string, ttft time.Duration) {
	m.get(provider, model).ttft.Observe(ttft.Seconds())
}

// Call implements gateway.CallObserver: a call's tokens go straight to its
// series' histograms (the ITL's child, which times the first token too).
func (m *Metrics) Call(provider, model string) gateway.TokenObserver {
	return m.get(provider, model).itl
}

// TokenGap implements gateway.Observer.
func (m *Metrics) TokenGap(provider, model string, gap time.Duration) {
	m.get(provider, model).itl.TokenGap(gap)
}

// CallEnded implements gateway.Observer.
func (m *Metrics) CallEnded(rec *gateway.Record) {
	s := m.get(rec.Provider, rec.Model)
	s.active.Dec()
	s.e2e.Observe(rec.Duration.Seconds())
	if n := rec.Usage.CompletionTokens; n > 1 && rec.TTFT > 0 && rec.Duration > rec.TTFT {
		s.tpot.Observe((rec.Duration - rec.TTFT).Seconds() / float64(n-1))
	}
	s.prompt.Add(float64(rec.Usage.PromptTokens))
	s.completion.Add(float64(rec.Usage.CompletionTokens))
	status := rec.Status
	if status == "" {
		status = "ok"
	}
	if status == "ok" {
		s.okCounter(m).Inc()
		return
	}
	m.requests.WithLabelValues(s.model, s.provider, status).Inc()
}

// okCounter is s's requests_total child for status "ok" (series.ok).
func (s *series) okCounter(m *Metrics) prometheus.Counter {
	if c := s.ok.Load(); c != nil {
		return *c
	}
	c := m.requests.WithLabelValues(s.model, s.provider, "ok")
	s.ok.Store(&c)
	return c
}
