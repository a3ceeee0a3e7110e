package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/server"
)

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newServer(t *testing.T, opts server.Options) (*httptest.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ts := httptest.NewServer(server.New(opts))
	t.Cleanup(ts.Close)
	return ts, logs
}

func routes(f func(mux *http.ServeMux)) []server.Dialect {
	return []server.Dialect{server.DialectFunc(f)}
}

func TestPanicBecomesJSON500AndServerKeepsServing(t *testing.T) {
	ts, logs := newServer(t, server.Options{Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			panic("kaboom")
		})
		mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
	})})

	resp, err := http.Get(ts.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Message, Type, Code string }
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-ID")
	if resp.StatusCode != 500 || resp.Header.Get("Content-Type") != "application/json" ||
		body.Error.Type != "server_error" || body.Error.Code != "internal_error" ||
		body.Error.Message != "internal error; the request id is "+id {
		t.Fatalf("panic answered %d %q %+v", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !strings.Contains(logs.String(), `msg=panic request_id=`+id) || !strings.Contains(logs.String(), "panic=kaboom") {
		t.Fatalf("panic not logged with its request id:\n%s", logs)
	}

	resp, err = http.Get(ts.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "fine" {
		t.Fatalf("after a panic: %q", b)
	}
}

func TestPanicMidStreamAbortsOnlyThatResponse(t *testing.T) {
	ts, _ := newServer(t, server.Options{Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "data: one\n\n")
			http.NewResponseController(w).Flush()
			panic("mid-stream")
		})
	})})
	resp, err := http.Get(ts.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "data: one\n\n" || err == nil {
		t.Fatalf("got %d %q err=%v; want the first event then a broken body", resp.StatusCode, b, err)
	}
}

func TestBodyLimit(t *testing.T) {
	ts, _ := newServer(t, server.Options{BodyLimit: 16, Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, "limit "+err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			w.Write(b)
		})
	})})
	tests := []struct {
		name   string
		body   io.Reader
		status int
		want   string
	}{
		{"under the limit", strings.NewReader("0123456789abcdef"), 200, "0123456789abcdef"},
		{"declared length over the limit: the handler answers, in its own shape", strings.NewReader("0123456789abcdefg"), 413, "limit http: request body too large\n"},
		{"chunked body over the limit", io.MultiReader(strings.NewReader("0123456789"), strings.NewReader("abcdefghij")), 413, "limit http: request body too large\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(ts.URL+"/echo", "text/plain", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || string(b) != tt.want {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	handler := routes(func(mux *http.ServeMux) {
		mux.HandleFunc("POST /v1/x", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") })
	})
	tests := []struct {
		name       string
		origins    []string
		method     string
		origin     string
		status     int
		allowOrig  string
		allowHeads bool
	}{
		{"any origin, simple request", nil, "POST", "https://a.example", 200, "*", false},
		{"any origin, preflight", nil, "OPTIONS", "https://a.example", 204, "*", true},
		{"listed origin", []string{"https://a.example"}, "POST", "https://a.example", 200, "https://a.example", false},
		{"unlisted origin gets no CORS headers", []string{"https://a.example"}, "POST", "https://b.example", 200, "", false},
		{"unlisted origin preflight is refused", []string{"https://a.example"}, "OPTIONS", "https://b.example", 403, "", false},
		{"no origin: not a CORS request", nil, "POST", "", 200, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, _ := newServer(t, server.Options{Dialects: handler, CORSOrigins: tt.origins})
			req, _ := http.NewRequest(tt.method, ts.URL+"/v1/x", nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tt.status || h.Get("Access-Control-Allow-Origin") != tt.allowOrig ||
				strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") != tt.allowHeads ||
				// Resumable streams from other origins: the opt-in header
				// may be sent and the stream id read.
				strings.Contains(h.Get("Access-Control-Allow-Headers"), "Runnel-Resumable") != tt.allowHeads {
				t.Fatalf("got %d, headers %v", resp.StatusCode, h)
			}
		})
	}
}

func TestRequestIDAndAccessLog(t *testing.T) {
	ts, logs := newServer(t, server.Options{Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, server.RequestID(r.Context()))
		})
	})})
	get := func(id string) (string, string) {
		req, _ := http.NewRequest("GET", ts.URL+"/id", nil)
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Request-ID"), string(b)
	}
	if h, b := get("trace-42"); h != "trace-42" || b != "trace-42" {
		t.Fatalf("caller's id not kept: header %q, context %q", h, b)
	}
	if h, b := get(`bad id with "quotes"`); !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(h) || b != h {
		t.Fatalf("invalid caller id not replaced: header %q, context %q", h, b)
	}
	h, _ := get("")
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(h) {
		t.Fatalf("no id generated: %q", h)
	}
	line := regexp.MustCompile(`level=INFO msg=request request_id=` + h + ` method=GET path=/id status=200 bytes=24 duration=\S+ remote=127\.0\.0\.1:\d+\n`)
	if !line.MatchString(logs.String()) {
		t.Fatalf("access log line missing:\n%s", logs)
	}
}

// A logger above Info logs the access lines of failed requests (500s,
// at Error) and no others.
func TestAccessLogLevel(t *testing.T) {
	logs := &logBuffer{}
	ts := httptest.NewServer(server.New(server.Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Dialects: routes(func(mux *http.ServeMux) {
			mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
			mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "broken", http.StatusBadGateway)
			})
		}),
	}))
	defer ts.Close()
	for _, path := range []string{"/ok", "/fail"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	line := regexp.MustCompile(`^time=\S+ level=ERROR msg=request request_id=[0-9a-f]{24} method=GET path=/fail status=502 bytes=7 duration=\S+ remote=127\.0\.0\.1:\d+\n$`)
	if !line.MatchString(logs.String()) {
		t.Fatalf("want the 502's access line alone, got:\n%s", logs)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var notReady error
	var mu sync.Mutex
	logs := &logBuffer{}
	h := server.New(server.Options{Ready: map[string]func(context.Context) error{"account store": func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return notReady
	}}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ts := httptest.NewServer(h)
	defer ts.Close()
	check := func(path string, status int, body string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || string(b) != body {
			t.Fatalf("GET %s = %d %s, want %d %s", path, resp.StatusCode, b, status, body)
		}
	}
	check("/healthz", 200, `{"status":"ok"}`+"\n")
	check("/readyz", 200, `{"status":"ready"}`+"\n")
	mu.Lock()
	notReady = errors.New("dial tcp 10.0.0.7:5432: connection refused")
	mu.Unlock()
	// The error's text, with the database's address, goes to the log only.
	check("/readyz", 503, `{"down":["account store"],"status":"not ready"}`+"\n")
	if !strings.Contains(logs.String(), `msg="not ready" check="account store" err="dial tcp 10.0.0.7:5432: connection refused"`) {
		t.Fatalf("the check's error is not in the log:\n%s", logs.String())
	}
	check("/healthz", 200, `{"status":"ok"}`+"\n")
	mu.Lock()
	notReady = nil
	mu.Unlock()
	h.Drain()
	check("/readyz", 503, `{"status":"shutting down"}`+"\n")
	check("/metrics", 404, "404 page not found\n")
}

// ReadyInfo's fields ride on every /readyz answer.
func TestReadyInfo(t *testing.T) {
	h := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReadyInfo: func() map[string]any { return map[string]any{"store": "postgres", "status": "overridden"} }})
	for _, draining := range []bool{false, true} {
		if draining {
			h.Drain()
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		want := `{"status":"ready","store":"postgres"}` + "\n"
		if draining {
			want = `{"status":"shutting down","store":"postgres"}` + "\n"
		}
		if rec.Body.String() != want {
			t.Fatalf("draining %v: %s, want %s", draining, rec.Body, want)
		}
	}
}

func TestMiddlewareWrapsOnlyTheAPI(t *testing.T) {
	deny := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-API-Key") != "k" {
				http.Error(w, "no key", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	ts, _ := newServer(t, server.Options{
		Middleware: []func(http.Handler) http.Handler{deny},
		Metrics:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "m 1\n") }),
		Dialects: routes(func(mux *http.ServeMux) {
			mux.HandleFunc("GET /v1/x", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") })
		}),
	})
	for path, status := range map[string]int{"/v1/x": 401, "/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, status)
		}
	}
}

// Run logs one ready line with the resolved port and, on shutdown, cancels
// a stream that outlives the grace period.
func TestRunReadyLineAndGracefulShutdown(t *testing.T) {
	streamCancelled := make(chan struct{})
	started := make(chan struct{})
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	h := server.New(server.Options{Logger: log, Dialects: routes(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /forever", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "data: x\n\n")
			http.NewResponseController(w).Flush()
			close(started)
			<-r.Context().Done()
			close(streamCancelled)
		})
	})})
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- server.Run(ctx, h, server.RunOptions{Addr: "127.0.0.1:0", Grace: 50 * time.Millisecond, Logger: log})
	}()

	var addr string
	re := regexp.MustCompile(`level=INFO msg=ready addr=(127\.0\.0\.1:\d+)\n`)
	for addr == "" {
		select {
		case err := <-ran:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
	}
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		t.Fatal("ready line shows port 0")
	}
	resp, err := http.Get("http://" + addr + "/forever")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	stop()
	select {
	case <-streamCancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream was never cancelled after the grace period")
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := strings.Count(logs.String(), "msg=ready"); n != 1 {
		t.Fatalf("%d ready lines", n)
	}
}

// BenchmarkStreamEvent measures one streamed event (write + flush) as a
// dialect's encoder does per token: straight to the connection's writer
// (bare, the baseline) and through the whole middleware chain.
func BenchmarkStreamEvent(b *testing.B) {
	event := []byte("data: {\"choices\":[{\"delta\":{\"content\":\" token\"}}]}\n\n")
	stream := func(b *testing.B) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.Write(event)
				rc.Flush()
			}
			b.StopTimer()
		}
	}
	b.Run("bare", func(b *testing.B) {
		stream(b).ServeHTTP(discardWriter{header: http.Header{}}, httptest.NewRequest("GET", "/stream", nil))
	})
	b.Run("middleware", func(b *testing.B) {
		h := server.New(server.Options{
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Dialects: routes(func(mux *http.ServeMux) { mux.HandleFunc("GET /stream", stream(b)) }),
		})
		h.ServeHTTP(discardWriter{header: http.Header{}}, httptest.NewRequest("GET", "/stream", nil))
	})
}

type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
func (d discardWriter) FlushError() error           { return nil }
