package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

type ctxKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// direct is h as a function. The layers below call the next one through
// it, skipping a frame of http.HandlerFunc.ServeHTTP each: a stream keeps
// the whole chain on its goroutine stack, and every 8 KiB stack it
// outgrows costs another 8 (see logRequest).
func direct(h http.Handler) http.HandlerFunc {
	if f, ok := h.(http.HandlerFunc); ok {
		return f
	}
	return h.ServeHTTP
}

// requestID gives every request an id: the caller's X-Request-ID when it is
// short and printable (so ids can be traced across proxies), else a new one.
// It is echoed in the X-Request-ID response header and logged.
func requestID(next http.Handler) http.Handler {
	serve := direct(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validID(id) {
			id = newID()
		}
		w.Header().Set("X-Request-ID", id)
		serve(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
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

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder is the ResponseWriter the middleware sees: it notes the status
// and the bytes written. It keeps Flush (one flush per streamed event) and
// Hijack (WebSocket) working, and Unwrap lets http.ResponseController reach
// the connection's own writer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
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
// The direct type switch keeps the per-event path free of allocations.
func (w *recorder) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	switch f := w.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
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

// accessLog logs one line per request when it ends (for a stream, when the
// stream ends).
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	serve := direct(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		serve(rec, r)
		logRequest(log, r, rec, start)
	})
}

// logRequest writes accessLog's line. It is a function of its own, kept
// out of line, so that its attributes are not part of the frame that stays
// on every open stream's goroutine stack (see docs/benchmarks.md, issue 13,
// fifth session).
//
//go:noinline
func logRequest(log *slog.Logger, r *http.Request, rec *recorder, start time.Time) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	log.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	)
}

// recoverPanics turns a handler's panic into a logged error and, if nothing
// was sent yet, a JSON 500; the process keeps serving. A panic after the
// response started aborts that one connection, since a half-sent stream
// cannot carry a status any more.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	serve := direct(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*recorder)
		if !ok {
			rec = &recorder{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
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
		}()
		serve(rec, r)
	})
}

// limitBody caps every request body. Handlers see the limit as a read error
// (*http.MaxBytesError) and answer 413 in their own dialect's error shape,
// which is why an oversized Content-Length is not refused here.
func limitBody(limit int64, next http.Handler) http.Handler {
	serve := direct(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		serve(w, r)
	})
}

var errOrigin = errors.New("origin not allowed")

// cors lets browser pages on other origins call the API (the JS SDK, the
// chat page served elsewhere) and answers preflight requests.
func cors(origins []string, next http.Handler) http.Handler {
	anyOrigin := len(origins) == 0 || slices.Contains(origins, "*")
	allowed := func(origin string) bool { return anyOrigin || slices.Contains(origins, origin) }
	serve := direct(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			serve(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if allowed(origin) {
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, Runnel-Stream-Id")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed(origin) {
				http.Error(w, errOrigin.Error(), http.StatusForbidden)
				return
			}
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, X-Request-ID, Last-Event-ID, Accept, Runnel-Resumable")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		serve(w, r)
	})
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
