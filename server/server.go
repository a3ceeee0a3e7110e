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
	"slices"
	"sync/atomic"
	"time"

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

	// Ready checks whether the server can take traffic, for /readyz, each
	// under the name of what it checks (e.g. "account store": a database
	// ping). A failing check's error goes to the log and the answer names
	// only what is down: the error may hold addresses. None means ready.
	Ready map[string]func(ctx context.Context) error

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
	routes   *routes
	limit    int64 // Options.BodyLimit
	cors     corsOrigins
	draining atomic.Bool
	ready    map[string]func(ctx context.Context) error
	info     func() map[string]any
	log      *slog.Logger
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
	h := &Handler{limit: limit, ready: opts.Ready, info: opts.ReadyInfo, log: log}
	h.cors.origins = opts.CORSOrigins
	h.cors.any = len(opts.CORSOrigins) == 0 || slices.Contains(opts.CORSOrigins, "*")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	if len(opts.Middleware) == 0 {
		// One mux for all: a stream keeps every frame above its loop on
		// its goroutine stack (see ServeHTTP).
		for _, d := range opts.Dialects {
			d.Register(mux)
		}
	} else {
		api := http.NewServeMux()
		for _, d := range opts.Dialects {
			d.Register(api)
		}
		var apiHandler http.Handler = newRoutes(api)
		for i := len(opts.Middleware) - 1; i >= 0; i-- {
			apiHandler = opts.Middleware[i](apiHandler)
		}
		mux.Handle("/", apiHandler)
	}
	h.routes = newRoutes(mux)
	return h
}

// ServeHTTP serves r through the middleware (request id, access log, panic
// recovery, CORS, body limit) to the routes. The middleware is one frame,
// its state in the recorder, not a handler per layer: a stream keeps every
// frame above its loop on its goroutine stack while it lasts, and the
// first flush (where net/http writes the headers, about 4 KiB deeper) must
// find room under 8 KiB, or the stack grows to 16 KiB for the whole
// stream (docs/benchmarks.md, issue 13).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := h.begin(w, r)
	defer h.end(rec)
	if h.preflight(rec) {
		return
	}
	// routes.ServeHTTP's steps, without its frame under the stream.
	if hd := h.routes.handler(&rec.req); hd != nil {
		hd.ServeHTTP(rec, &rec.req)
		return
	}
	h.routes.learn(&rec.req)
	h.routes.mux.ServeHTTP(rec, &rec.req)
}

// begin starts a request: its id (echoed in the X-Request-ID response
// header, logged, in the context), its recorder and the body limit.
// Handlers see the limit as a read error (*http.MaxBytesError) and answer
// 413 in their own dialect's error shape, which is why an oversized
// Content-Length is not refused here.
//
//go:noinline
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) *recorder {
	rec := &recorder{ResponseWriter: w, start: time.Now()}
	rec.ctx = reqCtx{Context: r.Context(), id: requestID(r, &rec.newID)}
	// The canonical key, set directly: Set would canonicalize it again
	// on every request. The value lives in the recorder.
	rec.idv[0] = rec.ctx.id
	w.Header()["X-Request-Id"] = rec.idv[:]
	// The request with that context, in the recorder: WithContext
	// inlined, its copy goes no further than this frame (no allocation).
	rec.req = *r.WithContext(&rec.ctx)
	if r.Body != nil && r.Body != http.NoBody {
		rec.body = limitedBody{r: r.Body, limit: h.limit, n: h.limit}
		rec.req.Body = &rec.body
	}
	return rec
}

// preflight sets the CORS headers of a request from another origin and
// answers it if it is a preflight request, reporting whether it did.
//
//go:noinline
func (h *Handler) preflight(rec *recorder) bool {
	origin := header(rec.req.Header, "Origin")
	return origin != "" && h.cors.cors(rec, &rec.req, origin)
}

// end ends a request: a panic is answered (see panicked), the access log
// line written.
func (h *Handler) end(rec *recorder) {
	if v := recover(); v != nil {
		panicked(h.log, rec, v)
	}
	logRequest(h.log, rec)
}

// Drain makes /readyz fail from now on, so that load balancers stop sending
// traffic while the server shuts down.
func (h *Handler) Drain() { h.draining.Store(true) }

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, h.readyBody("shutting down", nil))
		return
	}
	var down []string
	for name, check := range h.ready {
		if err := check(r.Context()); err != nil {
			h.log.Warn("not ready", "check", name, "err", err)
			down = append(down, name)
		}
	}
	if down != nil {
		slices.Sort(down)
		writeJSON(w, http.StatusServiceUnavailable, h.readyBody("not ready", down))
		return
	}
	writeJSON(w, http.StatusOK, h.readyBody("ready", nil))
}

// readyBody is /readyz's answer: the status, what is down if anything,
// and Options.ReadyInfo's fields.
func (h *Handler) readyBody(status string, down []string) map[string]any {
	m := map[string]any{}
	if h.info != nil {
		m = h.info()
	}
	m["status"] = status
	if down != nil {
		m["down"] = down
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
