package server

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/runnel/runnel/internal/randbuf"
)

type ctxKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(*string)
	if id == nil {
		return ""
	}
	return *id
}

// reqCtx is a request's context as the routes get it: the request's own,
// and its id. It lives in the recorder: no context.WithValue of its own.
type reqCtx struct {
	context.Context
	id string
}

func (c *reqCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.id // a pointer: a string would be boxed at every call
	}
	return c.Context.Value(key)
}

// requestID is the request's id: the caller's X-Request-ID when it is
// short and printable (so ids can be traced across proxies), else a new one
// written into buf. It is echoed in the X-Request-ID response header and
// logged.
func requestID(r *http.Request, buf *[24]byte) string {
	id := header(r.Header, "X-Request-Id")
	if !validID(id) {
		id = newID(buf)
	}
	return id
}

// header is h.Get(key) for a key in canonical form, which Get would
// canonicalize again: the server's request headers have canonical keys.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// newID writes a new id into buf and returns it: a string of buf's bytes,
// which are never written again (no allocation of its own).
func newID(buf *[24]byte) string {
	randbuf.Hex(buf)
	return unsafe.String(&buf[0], len(buf))
}

// recorder is the ResponseWriter the middleware sees: it notes the status
// and the bytes written. It keeps Flush (one flush per streamed event) and
// Hijack (WebSocket) working, and Unwrap lets http.ResponseController reach
// the connection's own writer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64 // through Write, and what WriteTarget's writers wrote
	// The request as the routes get it (with its id), and when it came:
	// kept here rather than in Handler.ServeHTTP's frame, which an open
	// stream keeps on its goroutine stack. req is the incoming request's
	// copy with ctx (not an allocation of its own; its pointer, another 8
	// bytes, would take the recorder past 512, to malloc's slower path).
	req   http.Request
	start time.Time
	ctx   reqCtx    // req's context
	idv   [1]string // the X-Request-Id header's value
	newID [24]byte  // the id, when the server made it
	// What FlushError flushes through, found at the first flush: the
	// writer's FlushError, else its Flush.
	fl interface{ FlushError() error }
	fh flushOnly
	// body is the request's body as the routes read it, under the
	// server's limit: in the recorder, not an allocation of its own.
	body limitedBody
}

// limitedBody is http.MaxBytesReader's reader, for a limit of 0 or more:
// reads past the limit fail with an *http.MaxBytesError, and every read
// after an error returns it again. (MaxBytesReader also tells net/http's
// own ResponseWriter to close the connection; given the recorder, as it
// was, it never could.) TestLimitedBodyAsMaxBytesReader holds the two
// together.
type limitedBody struct {
	r     io.ReadCloser
	limit int64 // for the error
	n     int64 // what may still be read
	err   error // the first error, returned from then on
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// One byte more than is left tells whether the body goes past the
	// limit, without reading much beyond it.
	if int64(len(p))-1 > b.n {
		p = p[:b.n+1]
	}
	n, err := b.r.Read(p)
	if int64(n) <= b.n {
		b.n -= int64(n)
		b.err = err
		return n, err
	}
	n, b.n = int(b.n), 0
	b.err = &http.MaxBytesError{Limit: b.limit}
	return n, b.err
}

func (b *limitedBody) Close() error { return b.r.Close() }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.findFlush()
		if code >= 200 {
			setDate(w.ResponseWriter.Header())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// setDate sets h's Date, unless the handler did, from the value made
// for the current second. Without one net/http formats its own for
// every response (time.Time.AppendFormat: ~1.9k instructions and ~110
// code lines a call, run by no proxy, which copies its upstream's).
// A response written without WriteHeader still gets net/http's.
func setDate(h http.Header) {
	if _, ok := h["Date"]; ok {
		return
	}
	h["Date"] = dateAt(time.Now())
}

// dateAt is the Date header's value at now.
func dateAt(now time.Time) []string {
	d := dates.Load()
	if d == nil || d.sec != now.Unix() {
		d = newDate(now)
	}
	return d.v
}

// date is the Date header's value for the second sec. Its slice is
// shared by every response of that second: net/http only reads it, and
// a handler that sets its own Date replaces it in its map.
type date struct {
	sec int64
	v   []string
}

var dates atomic.Pointer[date]

// newDate makes and keeps the Date of now's second (once a second:
// out of line).
//
//go:noinline
func newDate(now time.Time) *date {
	d := &date{sec: now.Unix(), v: []string{now.UTC().Format(http.TimeFormat)}}
	dates.Store(d)
	return d
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends what was written so far; streams call it once per event.
func (w *recorder) Flush() { w.FlushError() }

// FlushError is Flush reporting a gone client, for http.ResponseController.
// It flushes through the writer's own FlushError, or its Flush, found
// once a call (findFlush): a type assertion less every event.
func (w *recorder) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.fl != nil {
		return w.fl.FlushError()
	}
	if w.fh.Flusher != nil {
		w.fh.Flush()
		return nil
	}
	return w.flushFirst()
}

// FlushTarget is what FlushError passes every flush on to, once the
// status is set and the writer has a FlushError of its own (findFlush),
// for a writer that flushes each event (sse.Writer) to call directly: a
// frame less a flush. Nothing is lost to the recorder: such a flush only
// sends what went through Write, which counted it, and the status is
// set. Else it is w, whose FlushError sets the status or finds the flush.
func (w *recorder) FlushTarget() interface{ FlushError() error } {
	if w.fl != nil { // found with the status set
		return w.fl
	}
	if w.fh.Flusher != nil { // likewise
		return &w.fh
	}
	return w
}

// WriteTarget is, once the status is set, the writer Write passes every
// write on to, for a writer that writes each event (sse.Writer) to call
// directly, and the count of bytes its Write keeps: that writer adds what
// it wrote there to the count when it closes, before the handler returns
// and the access log reads it. A frame, and the recorder's line, less a
// token (docs/benchmarks.md, issue 13, tokobj session). Before the status
// it is w, and no count.
func (w *recorder) WriteTarget() (http.ResponseWriter, *int64) {
	if w.status == 0 {
		return w, nil
	}
	return w.ResponseWriter, &w.bytes
}

// flushOnly is the FlushError of a writer with a Flush alone (another
// middleware's, a test's sink): a FlushTarget that skips the recorder's
// checks each flush there too.
type flushOnly struct{ http.Flusher }

func (f *flushOnly) FlushError() error {
	f.Flush()
	return nil
}

// findFlush finds what FlushError flushes through, when the status is
// set: before the first flush, which then runs no frame more than the
// writer's own (net/http writes the headers under it, deep; see
// sse.Writer.writeHeaded).
func (w *recorder) findFlush() {
	switch f := w.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		w.fl = f
	case http.Flusher:
		w.fh.Flusher = f
	}
}

// flushFirst is FlushError before WriteHeader, out of line.
//
//go:noinline
func (w *recorder) flushFirst() error {
	w.findFlush()
	switch {
	case w.fl != nil:
		return w.fl.FlushError()
	case w.fh.Flusher != nil:
		w.fh.Flush()
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequest writes the access log's line, one per request when it ends
// (for a stream, when the stream ends). It is a function of its own, kept
// out of line, so that its attributes are not part of the frame that stays
// on every open stream's goroutine stack (see docs/benchmarks.md, issue 13,
// fifth session).
//
//go:noinline
func logRequest(log *slog.Logger, rec *recorder) {
	r := &rec.req
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if !log.Enabled(r.Context(), level) {
		return // its attributes unmade
	}
	log.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", time.Since(rec.start)),
		slog.String("remote", r.RemoteAddr),
	)
}

// panicked answers a handler's panic v: it is logged with the request and,
// if nothing was sent yet, answered with a JSON 500; the process keeps
// serving. A panic after the response started aborts that one connection,
// since a half-sent stream cannot carry a status any more.
//
//go:noinline
func panicked(log *slog.Logger, rec *recorder, v any) {
	if v == http.ErrAbortHandler {
		panic(v)
	}
	r := &rec.req
	log.LogAttrs(r.Context(), slog.LevelError, "panic",
		slog.String("request_id", RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(debug.Stack())),
	)
	if rec.status != 0 {
		panic(http.ErrAbortHandler)
	}
	h := rec.Header()
	for k := range h {
		if k != "X-Request-Id" && !strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	writeJSON(rec, http.StatusInternalServerError, map[string]any{"error": map[string]any{
		"message": "internal error; the request id is " + RequestID(r.Context()),
		"type":    "server_error",
		"param":   nil,
		"code":    "internal_error",
	}})
}

var errOrigin = errors.New("origin not allowed")

// corsOrigins lets browser pages on other origins call the API (the JS
// SDK, the chat page served elsewhere).
type corsOrigins struct {
	any     bool // every origin
	origins []string
}

func (c *corsOrigins) allowed(origin string) bool {
	return c.any || slices.Contains(c.origins, origin)
}

// cors sets the CORS headers of a request from origin and answers a
// preflight request, reporting whether it did.
//
//go:noinline
func (c *corsOrigins) cors(w http.ResponseWriter, r *http.Request, origin string) (answered bool) {
	h := w.Header()
	h.Add("Vary", "Origin")
	if c.allowed(origin) {
		if c.any {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, Runnel-Stream-Id")
	}
	if r.Method != http.MethodOptions || header(r.Header, "Access-Control-Request-Method") == "" {
		return false
	}
	if !c.allowed(origin) {
		http.Error(w, errOrigin.Error(), http.StatusForbidden)
		return true
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, X-Request-ID, Last-Event-ID, Accept, Runnel-Resumable")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// Guard serves h only to requests allow accepts; others get a 401 with a
// JSON error body naming what is missing. For /metrics: its own bearer
// token (BearerToken), or the API's keys.
func Guard(allow func(r *http.Request) error, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := allow(r); err != nil {
			b, _ := json.Marshal(map[string]map[string]string{"error": {"code": "unauthorized", "message": err.Error()}})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(b)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// BearerToken accepts requests with "Authorization: Bearer token"
// (compared in constant time).
func BearerToken(token string) func(r *http.Request) error {
	want := []byte("Bearer " + token)
	return func(r *http.Request) error {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			return errors.New("this endpoint needs its bearer token: Authorization: Bearer TOKEN")
		}
		return nil
	}
}
