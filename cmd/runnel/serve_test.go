package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/config"
)

func serveTest(t *testing.T, ao accountOptions, env map[string]string) *httptest.Server {
	t.Helper()
	cfg := config.Default()
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	cfg.Server.DataDir = t.TempDir()
	h, _, closeAll, err := newServer(context.Background(), cfg, ao, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() { ts.Close(); closeAll() })
	return ts
}

func do(t *testing.T, method, url, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Every dialect, the account APIs and the operational endpoints are
// mounted by serve's wiring.
func TestServeMountsEveryAPI(t *testing.T) {
	ts := serveTest(t, accountOptions{}, nil)
	chat := `{"model":"mock/default?text=Hi%20there.","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"openai chat", "POST", "/v1/chat/completions", chat, 200, `"content":"Hi there."`},
		{"openai models", "GET", "/v1/models", "", 200, `"id":"mock/default"`},
		{"ollama chat", "POST", "/api/chat", `{"model":"mock/default?text=Hi%20there.","stream":false,"messages":[{"role":"user","content":"hi"}]}`, 200, `"content":"Hi there."`},
		{"ollama version", "GET", "/api/version", "", 200, `"version"`},
		{"anthropic messages", "POST", "/v1/messages", `{"model":"mock/default?text=Hi%20there.","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`, 200, `"text":"Hi there."`},
		{"anthropic count_tokens", "POST", "/v1/messages/count_tokens", `{"model":"mock/default","messages":[{"role":"user","content":"hi"}]}`, 200, `"input_tokens":1`},
		{"native generate", "POST", "/api/v1/generate", `{"service_name":"mock","model_name":"default?text=Hi%20there.","input":[{"type":"text","name":"input","content":"hi"}]}`, 200, `Hi there.`},
		{"websocket without upgrade", "GET", "/ws/chat", "", 426, ""},
		{"jobs: unknown job", "GET", "/api/jobs/job_aaaaaaaaaaaaaaaa", "", 404, ""},
		{"admin, auth off", "GET", "/admin/teams", "", 200, `"teams"`},
		{"chat page", "GET", "/", "", 200, "<html"},
		{"JS SDK", "GET", "/sdk/runnel.js", "", 200, "export"},
		{"health", "GET", "/healthz", "", 200, `"ok"`},
		{"ready", "GET", "/readyz", "", 200, `"ready"`},
		{"metrics", "GET", "/metrics", "", 200, `runnel_requests_total{model="default",provider="mock",status="ok"}`},
		{"bad JSON is a 400 in OpenAI's shape", "POST", "/v1/chat/completions", `{"model":`, 400, `"type":"invalid_request_error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, tt.method, ts.URL+tt.path, "", tt.body)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("%s %s = %d %s; want %d containing %q", tt.method, tt.path, status, body, tt.status, tt.contains)
			}
		})
	}
}

// A body over --body-limit is a 413 in each dialect's own error shape.
func TestServeBodyLimitPerDialect(t *testing.T) {
	cfg := config.Default()
	cfg.ApplyEnv(func(string) string { return "" })
	cfg.Server.DataDir = t.TempDir()
	cfg.Server.BodyLimit = 256
	h, _, closeAll, err := newServer(context.Background(), cfg, accountOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer func() { ts.Close(); closeAll() }()
	big := `{"model":"mock/default","messages":[{"role":"user","content":"` + strings.Repeat("x", 400) + `"}]}`
	tests := []struct{ path, shape string }{
		{"/v1/chat/completions", `{"error":{"message":`},
		{"/api/chat", `{"error":"`},
		{"/v1/messages", `{"type":"error","error":{`},
	}
	for _, tt := range tests {
		status, body := do(t, "POST", ts.URL+tt.path, "", big)
		if status != 413 || !strings.HasPrefix(body, tt.shape) {
			t.Errorf("POST %s with %d bytes = %d %s; want 413 starting %s", tt.path, len(big), status, body, tt.shape)
		}
	}
}

func TestServeWithAuth(t *testing.T) {
	ts := serveTest(t, accountOptions{auth: true, adminKey: "admin-secret-key-0123456789"}, nil)
	chat := `{"model":"mock/default?text=Hi.","messages":[{"role":"user","content":"hi"}]}`
	if status, body := do(t, "POST", ts.URL+"/v1/chat/completions", "", chat); status != 401 || !strings.Contains(body, `"error"`) {
		t.Fatalf("no key: %d %s", status, body)
	}
	if status, body := do(t, "POST", ts.URL+"/v1/chat/completions", "wrong", chat); status != 401 {
		t.Fatalf("wrong key: %d %s", status, body)
	}
	if status, body := do(t, "POST", ts.URL+"/v1/chat/completions", "admin-secret-key-0123456789", chat); status != 200 || !strings.Contains(body, `"content":"Hi."`) {
		t.Fatalf("admin key: %d %s", status, body)
	}
	if status, _ := do(t, "GET", ts.URL+"/healthz", "", ""); status != 200 {
		t.Fatalf("healthz needs no key: %d", status)
	}
	if status, _ := do(t, "GET", ts.URL+"/admin/teams", "", ""); status != 401 {
		t.Fatalf("admin API without a key: %d", status)
	}
	if status, _ := do(t, "GET", ts.URL+"/admin/teams", "admin-secret-key-0123456789", ""); status != 200 {
		t.Fatalf("admin API with the admin key: %d", status)
	}

	// The native GET stream authenticates by stream token only.
	stream := ts.URL + "/api/v1/inference/stream?model=" + url.QueryEscape("mock/default?text=Hi.") + "&prompt=hi"
	if status, body := do(t, "GET", stream, "", ""); status != 401 {
		t.Fatalf("native GET stream without a token: %d %s", status, body)
	}
	token := func(key string) string { return streamToken(t, ts.URL, key) }
	if status, body := do(t, "GET", stream+"&token="+token("admin-secret-key-0123456789"), "", ""); status != 200 || !strings.Contains(body, `"token":"Hi"`) || !strings.Contains(body, `"done":true`) {
		t.Fatalf("native GET stream with the admin's token: %d %s", status, body)
	}
	// No token for a caller without a valid key.
	for _, key := range []string{"", "wrong"} {
		if status, body := do(t, "POST", ts.URL+"/api/v1/stream-tokens", key, ""); status != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
			t.Fatalf("stream token with key %q: %d %s", key, status, body)
		}
	}

	// The routes that make no call are behind auth too, each in its
	// dialect's error shape; /metrics as well.
	for _, tt := range []struct{ method, path, body, shape string }{
		{"GET", "/v1/models", "", `"type":"authentication_error"`},
		{"GET", "/v1/models/mock/default", "", `"type":"authentication_error"`},
		{"GET", "/api/tags", "", `"error":"`},
		{"POST", "/api/show", `{"model":"mock/default"}`, `"error":"`},
		{"POST", "/v1/messages/count_tokens", `{"model":"mock/default","messages":[{"role":"user","content":"hi"}]}`, `"type":"authentication_error"`},
		{"GET", "/metrics", "", `{"error":{"code":"unauthorized","message":"missing API key`},
	} {
		if status, body := do(t, tt.method, ts.URL+tt.path, "", tt.body); status != 401 || !strings.Contains(body, tt.shape) {
			t.Errorf("%s %s without a key: %d %s", tt.method, tt.path, status, body)
		}
		if status, body := do(t, tt.method, ts.URL+tt.path, "admin-secret-key-0123456789", tt.body); status != 200 {
			t.Errorf("%s %s with a key: %d %s", tt.method, tt.path, status, body)
		}
	}
}

// /metrics with its own token (server.metrics_token): only that token,
// for a scraper that holds no API key; and a 404 for a made-up model
// adds no series.
func TestServeMetricsToken(t *testing.T) {
	ts := serveTest(t, accountOptions{auth: true, adminKey: "admin-secret-key-0123456789"}, map[string]string{"RUNNEL_METRICS_TOKEN": "scrape-me"})
	do(t, "POST", ts.URL+"/v1/chat/completions", "admin-secret-key-0123456789", `{"model":"nosuchprovider/made-up-model","messages":[{"role":"user","content":"hi"}]}`)
	for key, want := range map[string]int{"": 401, "wrong": 401, "admin-secret-key-0123456789": 401, "scrape-me": 200} {
		status, body := do(t, "GET", ts.URL+"/metrics", key, "")
		if status != want {
			t.Errorf("/metrics with %q: %d, want %d", key, status, want)
		}
		if status == 200 && (strings.Contains(body, "made-up") || !strings.Contains(body, `runnel_requests_total{model="other"`)) {
			t.Errorf("a made-up model name has series of its own:\n%s", body)
		}
	}
}

// A --models-dir that does not exist is warned about at start, and a
// --model that cannot be loaded stops serve before it listens, naming the
// model and the directory to pull it into.
func TestServeModelFlag(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	_, stderr, err := run(t, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--models-dir", missing, "--model", "stories260K")
	if err == nil || !strings.Contains(err.Error(), "stories260K") || !strings.Contains(err.Error(), "runnel pull --models-dir "+missing) {
		t.Fatalf("serve --model with no model: %v", err)
	}
	if !strings.Contains(stderr, "the models directory does not exist") || !strings.Contains(stderr, missing) {
		t.Fatalf("no warning about the missing directory:\n%s", stderr)
	}
}
