package anthropic_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/anthropic/anthropictest"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// countServer is Runnel's Anthropic API over a real gateway routing
// "claude/…" to a fake Anthropic, "mock/…" to the mock and "gpt/…" to an
// OpenAI-compatible upstream (which has no way to count).
func countServer(t *testing.T, fake *anthropictest.Server, authorize func(context.Context) error) *httptest.Server {
	r := gateway.NewStaticRouter()
	r.Register("claude", fake1(t, fake))
	r.Register("mock", mock.New(mock.Options{}))
	r.Register("gpt", openai.NewProvider(openai.Config{BaseURL: "http://127.0.0.1:1/v1"}))
	r.Alias("both", gateway.Target{Provider: "gpt", Model: "x"}, gateway.Target{Provider: "mock", Model: "default"})
	gw := gateway.New(gateway.Options{Router: r})
	return dialecttest.Serve(t, anthropic.NewServer(gw, anthropic.Options{BodyLimit: 1 << 20, Authorize: authorize}).Register)
}

func fake1(t *testing.T, s *anthropictest.Server) *anthropic.Provider {
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return anthropic.NewProvider(anthropic.Config{BaseURL: ts.URL, APIKey: s.APIKey})
}

func countOf(t *testing.T, url, body string) (int, int, anthropic.ErrorResponse) {
	t.Helper()
	resp := dialecttest.Post(t, url+"/v1/messages/count_tokens", body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var er anthropic.ErrorResponse
		if err := json.Unmarshal(b, &er); err != nil || er.Type != "error" || er.Error.Message == "" {
			t.Fatalf("status %d, body %s: not Anthropic's error shape", resp.StatusCode, b)
		}
		return 0, resp.StatusCode, er
	}
	var c anthropic.CountTokensResponse
	if err := json.Unmarshal(b, &c); err != nil || c.InputTokens == nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return *c.InputTokens, resp.StatusCode, anthropic.ErrorResponse{}
}

// usageOf is the input_tokens a Messages call with body reports.
func usageOf(t *testing.T, url, body string) int {
	t.Helper()
	resp := dialecttest.Post(t, url+"/v1/messages", body)
	defer resp.Body.Close()
	var m anthropic.MessageResponse
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("messages: %d %v", resp.StatusCode, err)
	}
	return m.Usage.InputTokens
}

// A count through Runnel is the count its model's provider makes: the
// Anthropic upstream's own count_tokens (what the API answers for the same
// body, forwarded), the mock's usage count, each equal to the
// input_tokens the Messages call then reports; an answer begun is counted
// as output, as that usage counts it.
func TestCountTokensIsTheProvidersCount(t *testing.T) {
	fake := &anthropictest.Server{APIKey: "sk-test"}
	srv := countServer(t, fake, nil)
	for _, c := range []struct{ name, count, messages string }{
		{"anthropic upstream",
			`{"model":"claude/claude-fake","system":"Be brief.","messages":[{"role":"user","content":"Tell me about the valley."}]}`,
			`{"model":"claude/claude-fake","max_tokens":5,"system":"Be brief.","messages":[{"role":"user","content":"Tell me about the valley."}]}`},
		{"anthropic upstream, an answer begun",
			`{"model":"claude/claude-fake","messages":[{"role":"user","content":"Tell me about the valley."},{"role":"assistant","content":"The valley is"}]}`,
			`{"model":"claude/claude-fake","max_tokens":50,"messages":[{"role":"user","content":"Tell me about the valley."},{"role":"assistant","content":"The valley is"}]}`},
		{"mock",
			`{"model":"mock/default","system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}]}`,
			`{"model":"mock/default","max_tokens":5,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}]}`},
	} {
		n, status, er := countOf(t, srv.URL, c.count)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %+v", c.name, status, er)
		}
		if want := usageOf(t, srv.URL, c.messages); n != want || n == 0 {
			t.Errorf("%s: counted %d, the call reports %d input tokens", c.name, n, want)
		}
	}
	// What reached the fake is Anthropic's count_tokens request, the model
	// by its own name.
	var counted bool
	for _, r := range fake.Requests() {
		if r.Path == "/v1/messages/count_tokens" {
			counted = true
			if r.Body["model"] != "claude-fake" || r.Body["max_tokens"] != nil {
				t.Errorf("count_tokens sent upstream: %v", r.Body)
			}
		}
	}
	if !counted {
		t.Error("the Anthropic upstream was never asked to count")
	}

	// The count is the upstream's, not an estimate: one that counts more
	// than it bills is forwarded as it is.
	extra := countServer(t, &anthropictest.Server{CountExtra: 7}, nil)
	a, _, _ := countOf(t, srv.URL, `{"model":"claude/claude-fake","messages":[{"role":"user","content":"Hi there"}]}`)
	b, _, _ := countOf(t, extra.URL, `{"model":"claude/claude-fake","messages":[{"role":"user","content":"Hi there"}]}`)
	if b != a+7 {
		t.Errorf("upstream counts %d and %d, want 7 apart", a, b)
	}
}

// What cannot be counted exactly is refused, in Anthropic's error shape,
// naming why; bad input is a 400 naming the field; the caller is checked.
func TestCountTokensRefusals(t *testing.T) {
	srv := countServer(t, &anthropictest.Server{}, nil)
	for _, c := range []struct {
		body   string
		status int
		typ    string
		says   string
	}{
		{`{"model":"gpt/gpt-4o","messages":[{"role":"user","content":"hi"}]}`, 422, "invalid_request_error", "cannot count tokens"},
		{`{"model":"both","messages":[{"role":"user","content":"hi"}]}`, 422, "invalid_request_error", "gpt"},
		{`{"model":"claude/x","messages":[]}`, 400, "invalid_request_error", "messages"},
		{`{"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "model"},
		{`{"model":"mock/default","messages":[{"role":"robot","content":"hi"}]}`, 400, "invalid_request_error", "messages.0.role"},
		{`{"model":"mock/default?status=503","messages":[{"role":"user","content":"hi"}]}`, 502, "api_error", "503"},
		{`{"model":`, 400, "invalid_request_error", ""},
	} {
		_, status, er := countOf(t, srv.URL, c.body)
		if status != c.status || (c.typ != "" && er.Error.Type != c.typ) || !strings.Contains(er.Error.Message, c.says) {
			t.Errorf("%s: %d %+v, want %d %s naming %q", c.body, status, er, c.status, c.typ, c.says)
		}
	}

	refuse := countServer(t, &anthropictest.Server{}, func(context.Context) error {
		return stream.Errorf(stream.CodeUnauthorized, "invalid API key")
	})
	if _, status, er := countOf(t, refuse.URL, `{"model":"mock/default","messages":[{"role":"user","content":"hi"}]}`); status != 401 || er.Error.Type != "authentication_error" {
		t.Errorf("refused caller: %d %+v", status, er)
	}
}

// FuzzCountTokens: any body gets a 2xx or a 4xx in Anthropic's shape.
func FuzzCountTokens(f *testing.F) {
	f.Add(`{"model":"mock/default","messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"model":"mock/default","thinking":{"type":"enabled","budget_tokens":5},"tool_choice":{"type":"tool"},"messages":[{"role":"user","content":[]}]}`)
	f.Add(`{"model":"gpt/x","tools":[{"name":""}],"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":null}]}]}`)
	r := gateway.NewStaticRouter()
	r.Register("mock", mock.New(mock.Options{}))
	r.Register("gpt", openai.NewProvider(openai.Config{BaseURL: "http://127.0.0.1:1/v1"}))
	mux := http.NewServeMux()
	anthropic.NewServer(gateway.New(gateway.Options{Router: r}), anthropic.Options{BodyLimit: 4096}).Register(mux)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/messages/count_tokens", strings.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var er anthropic.ErrorResponse
		if rec.Code >= 400 && (json.Unmarshal(rec.Body.Bytes(), &er) != nil || er.Type != "error" || er.Error.Message == "") {
			t.Fatalf("error body %q", rec.Body)
		}
	})
}
