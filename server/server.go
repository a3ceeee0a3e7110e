// Package server is Runnel's HTTP wiring: the mux every API dialect registers
// on, the middleware around it (request ids, access logs, panic recovery,
// body limits, CORS) and the operational endpoints /healthz, /readyz and
// /metrics.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/runnel/runnel/dialect"
)

// Dialect is an API dialect's server side (or any other set of routes): it
// adds its handlers to mux. Patterns use Go 1.22 syntax, e.g.
// "POST /v1/chat/completions".
type Dialect interface {
	Register(mux *http.ServeMux)
}

// DialectFunc adapts a function to Dialect.
type DialectFunc func(mux *http.ServeMux)

func (f DialectFunc) Register(mux *http.ServeMux) { f(mux) }

// Options configure the handler.
type Options struct {
	// Dialects register the API routes: one per dialect, plus any other
	// route set (admin, jobs, web page, SDK).
	Dialects []Dialect

	// Middleware wraps the API routes, innermost last (e.g. the account
	// package's auth, which puts the caller's identity in the context). It
	// does not wrap /healthz, /readyz or /metrics.
	Middleware []func(http.Handler) http.Handler

	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler

	// Ready reports whether the server can take traffic, for /readyz (e.g.
	// a database ping). nil means ready.
	Ready func(ctx context.Context) error

	// ReadyInfo adds fields to /readyz's answer (where state lives, the
	// rate-limit backend's state); nil adds none.
	ReadyInfo func() map[string]any

	// Logger receives the access log and panics; nil means slog.Default().
	Logger *slog.Logger

	// BodyLimit caps every request body, in bytes (default 1 MiB). Dialects
	// apply their own limit too; this one protects everything else.
	BodyLimit int64

	// CORSOrigins are the origins browsers may call the API from; "*"
	// allows any. Empty means "*": the API is authenticated by header, not
	// by cookie, so a wildcard exposes nothing a page could not fetch anyway.
	CORSOrigins []string
}

// Handler is Runnel's root HTTP handler.
type Handler struct {
	root     http.Handler
	draining atomic.Bool
	ready    func(ctx context.Context) error
	info     func() map[string]any
}

// New returns the root handler with every route of opts registered.
func New(opts Options) *Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	limit := opts.BodyLimit
	if limit <= 0 {
		limit = dialect.DefaultBodyLimit
	}
	h := &Handler{ready: opts.Ready, info: opts.ReadyInfo}

	api := http.NewServeMux()
	for _, d := range opts.Dialects {
		d.Register(api)
	}
	var apiHandler http.Handler = api
	for i := len(opts.Middleware) - 1; i >= 0; i-- {
		apiHandler = opts.Middleware[i](apiHandler)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	mux.Handle("/", apiHandler)

	var root http.Handler = mux
	root = limitBody(limit, root)
	root = cors(opts.CORSOrigins, root)
	root = recoverPanics(log, root)
	root = accessLog(log, root)
	root = requestID(root)
	h.root = root
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

// Drain makes /readyz fail from now on, so that load balancers stop sending
// traffic while the server shuts down.
func (h *Handler) Drain() { h.draining.Store(true) }

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, h.readyBody("status", "shutting down"))
		return
	}
	if h.ready != nil {
		if err := h.ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, h.readyBody("status", "not ready", "error", err.Error()))
			return
		}
	}
	writeJSON(w, http.StatusOK, h.readyBody("status", "ready"))
}

// readyBody is /readyz's answer: kv, plus Options.ReadyInfo's fields.
func (h *Handler) readyBody(kv ...string) map[string]any {
	m := map[string]any{}
	if h.info != nil {
		m = h.info()
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
