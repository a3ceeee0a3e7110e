package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// testGateway routes model names to providers, the way the real gateway's
// router does, without admission or controls.
type testGateway struct {
	providers map[string]stream.Provider
	last      *stream.Request
}

func (g *testGateway) Start(ctx context.Context, req *stream.Request) (*gateway.Call, error) {
	p, ok := g.providers[req.Model]
	if !ok {
		return nil, stream.Errorf(stream.CodeNotFound, "model %q not found", req.Model)
	}
	g.last = req
	s, err := p.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return gateway.NewCall(s, "abc123", "test", req.Model, time.Unix(1700000000, 0), nil), nil
}

func (g *testGateway) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	var out []gateway.ModelInfo
	for name := range g.providers {
		out = append(out, gateway.ModelInfo{ID: name, Provider: "test", Created: time.Unix(1700000000, 0)})
	}
	return out, nil
}

func sliceProvider(events ...stream.Event) stream.Provider {
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return stream.Slice(events...), nil
	})
}

func errProvider(e *stream.Error) stream.Provider {
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return nil, e
	})
}

func newTestServer(t testing.TB, models map[string]stream.Provider) (*httptest.Server, *testGateway) {
	t.Helper()
	return newTestServerWith(t, Options{}, models)
}

func newTestServerWith(t testing.TB, opts Options, models map[string]stream.Provider) (*httptest.Server, *testGateway) {
	t.Helper()
	gw := &testGateway{providers: models}
	mux := http.NewServeMux()
	NewServer(gw, opts).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, gw
}

// stripIDs removes the id: lines the SSE writer numbers events with,
// checking that every event has one and that they count up from 1.
func stripIDs(t testing.TB, body string) string {
	t.Helper()
	var out strings.Builder
	next := 1
	if events, ids := strings.Count(body, "data: "), strings.Count(body, "id: "); events != ids {
		t.Errorf("%d events but %d id: lines", events, ids)
	}
	for _, line := range strings.SplitAfter(body, "\n") {
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			if want := fmt.Sprintf("%d\n", next); id != want {
				t.Errorf("id %q, want %q", id, want)
			}
			next++
			continue
		}
		out.WriteString(line)
	}
	return out.String()
}

func post(t testing.TB, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

const head = `{"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[`

func TestChatStreamExactBytes(t *testing.T) {
	usage := stream.Usage{PromptTokens: 5, CompletionTokens: 3, ReasoningTokens: 1}
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.ThinkingDelta("hmm"),
		stream.Delta("Hel"),
		stream.Delta("lo \"\n"),
		stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: 0, ID: "call_1", Name: "get", Arguments: `{"a"`}},
		stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: 0, Arguments: `:1}`}},
		stream.UsageEvent(usage),
		stream.Finished(stream.FinishToolCalls),
	)})
	resp, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	want := "" +
		"data: " + head + `{"index":0,"delta":{"role":"assistant","reasoning_content":"hmm"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{"content":"lo \"\n"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"a\""}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n" +
		"data: " + head + `],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":1}}}` + "\n\n" +
		"data: [DONE]\n\n"
	body = stripIDs(t, body)
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	// Every data line is valid JSON (except [DONE]).
	for _, line := range strings.Split(body, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && d != "[DONE]" && !json.Valid([]byte(d)) {
			t.Errorf("invalid JSON: %s", d)
		}
	}
}

func TestChatStreamNoUsageUnlessAsked(t *testing.T) {
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.Delta("x"), stream.UsageEvent(stream.Usage{PromptTokens: 1, CompletionTokens: 1}), stream.Finished(stream.FinishLength),
	)})
	_, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	want := "" +
		"data: " + head + `{"index":0,"delta":{"role":"assistant","content":"x"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	body = stripIDs(t, body)
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

func TestChatStreamMidStreamError(t *testing.T) {
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.Delta("a"),
		stream.ErrorEvent(&stream.Error{Code: stream.CodeUpstream, Message: "upstream closed the stream before it finished"}),
		stream.Finished(stream.FinishError),
	)})
	_, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	want := "" +
		"data: " + head + `{"index":0,"delta":{"role":"assistant","content":"a"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		`data: {"error":{"message":"upstream closed the stream before it finished","type":"api_error","param":null,"code":"upstream_error"}}` + "\n\n" +
		"data: [DONE]\n\n"
	body = stripIDs(t, body)
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

func TestChatNonStreamed(t *testing.T) {
	srv, gw := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.ThinkingDelta("think"), stream.Delta("Hello"), stream.Delta(" world"),
		stream.UsageEvent(stream.Usage{PromptTokens: 4, CompletionTokens: 2}), stream.Finished(stream.FinishStop),
	)})
	resp, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],"max_tokens":7,"temperature":0.5,"stop":"END","seed":3,"user":"u1","n":1}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	want := `{"id":"chatcmpl-abc123","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello world","reasoning_content":"think","refusal":null},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}` + "\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	r := gw.last
	if r.Messages[1].Content != "hi there" || r.Messages[0].Role != "system" || r.Sampling.MaxTokens != 7 ||
		*r.Sampling.Temperature != 0.5 || r.Sampling.Stop[0] != "END" || *r.Sampling.Seed != 3 || r.Metadata["user"] != "u1" {
		t.Errorf("request = %+v", r)
	}
}

func TestCompletions(t *testing.T) {
	p := sliceProvider(stream.Delta("one"), stream.Delta(" two"), stream.UsageEvent(stream.Usage{PromptTokens: 2, CompletionTokens: 2}), stream.Finished(stream.FinishStop))
	srv, gw := newTestServer(t, map[string]stream.Provider{"m": p})
	_, body := post(t, srv.URL+"/v1/completions", `{"model":"m","prompt":["Once"],"stream":true,"stream_options":{"include_usage":true}}`)
	h := `{"id":"cmpl-abc123","object":"text_completion","created":1700000000,"model":"m","choices":[`
	want := "" +
		"data: " + h + `{"index":0,"text":"one","logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + h + `{"index":0,"text":" two","logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + h + `{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
		"data: " + h + `],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}` + "\n\n" +
		"data: [DONE]\n\n"
	body = stripIDs(t, body)
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	if gw.last.Prompt != "Once" || !gw.last.RawPrompt || len(gw.last.Messages) != 0 {
		t.Errorf("request = %+v", gw.last)
	}
	_, body = post(t, srv.URL+"/v1/completions", `{"model":"m","prompt":"Once","max_tokens":2}`)
	want = `{"id":"cmpl-abc123","object":"text_completion","created":1700000000,"model":"m","choices":[{"index":0,"text":"one two","finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}` + "\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

func TestModels(t *testing.T) {
	srv, _ := newTestServer(t, map[string]stream.Provider{"mock/default": sliceProvider()})
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"object":"list","data":[{"id":"mock/default","object":"model","created":1700000000,"owned_by":"test"}]}` + "\n"; string(b) != want {
		t.Errorf("list = %s", b)
	}
	resp, _ = http.Get(srv.URL + "/v1/models/mock/default")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"id":"mock/default","object":"model","created":1700000000,"owned_by":"test"}` + "\n"; string(b) != want {
		t.Errorf("get = %s", b)
	}
	resp, _ = http.Get(srv.URL + "/v1/models/nope")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"code":"model_not_found"`) {
		t.Errorf("get unknown = %d %s", resp.StatusCode, b)
	}
}

func TestBadInput(t *testing.T) {
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(stream.Finished(stream.FinishStop))})
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	cases := []struct {
		name, path, body string
		status           int
		typ, param, code string
		msg              string // substring of the message
	}{
		{"invalid json", "chat", `{"model":"m",`, 400, "invalid_request_error", "", "invalid_json", "invalid JSON"},
		{"not an object", "chat", `[1]`, 400, "invalid_request_error", "", "invalid_json", "JSON object"},
		{"empty body", "chat", ``, 400, "invalid_request_error", "", "invalid_json", "empty"},
		{"unknown model", "chat", `{"model":"nope",` + msgs + `}`, 404, "not_found_error", "model", "model_not_found", `"nope"`},
		{"missing model", "chat", `{` + msgs + `}`, 400, "invalid_request_error", "model", "invalid_value", "model is required"},
		{"missing messages", "chat", `{"model":"m"}`, 400, "invalid_request_error", "messages", "invalid_value", "messages is required"},
		{"empty messages", "chat", `{"model":"m","messages":[]}`, 400, "invalid_request_error", "messages", "invalid_value", "at least one"},
		{"bad role", "chat", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, 400, "invalid_request_error", "messages[0].role", "invalid_value", "robot"},
		{"missing content", "chat", `{"model":"m","messages":[{"role":"user"}]}`, 400, "invalid_request_error", "messages[0].content", "invalid_value", "required"},
		{"image part", "chat", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "invalid_request_error", "messages[0].content[0].type", "invalid_value", "image_url"},
		{"content number", "chat", `{"model":"m","messages":[{"role":"user","content":5}]}`, 400, "invalid_request_error", "messages[0].content", "invalid_value", "string or an array"},
		{"max_tokens 0", "chat", `{"model":"m",` + msgs + `,"max_tokens":0}`, 400, "invalid_request_error", "max_tokens", "invalid_value", "at least 1"},
		{"max_completion_tokens -1", "chat", `{"model":"m",` + msgs + `,"max_completion_tokens":-1}`, 400, "invalid_request_error", "max_completion_tokens", "invalid_value", "at least 1"},
		{"temperature 2.5", "chat", `{"model":"m",` + msgs + `,"temperature":2.5}`, 400, "invalid_request_error", "temperature", "invalid_value", "between 0 and 2"},
		{"temperature -1", "chat", `{"model":"m",` + msgs + `,"temperature":-1}`, 400, "invalid_request_error", "temperature", "invalid_value", "between 0 and 2"},
		{"top_p 2", "chat", `{"model":"m",` + msgs + `,"top_p":2}`, 400, "invalid_request_error", "top_p", "invalid_value", "top_p"},
		{"n 2", "chat", `{"model":"m",` + msgs + `,"n":2}`, 400, "invalid_request_error", "n", "invalid_value", "n must be 1"},
		{"max_tokens string", "chat", `{"model":"m",` + msgs + `,"max_tokens":"5"}`, 400, "invalid_request_error", "max_tokens", "invalid_value", "max_tokens must be an integer"},
		{"messages string", "chat", `{"model":"m","messages":"hi"}`, 400, "invalid_request_error", "messages", "invalid_value", "messages must be an array"},
		{"stream string", "chat", `{"model":"m",` + msgs + `,"stream":"yes"}`, 400, "invalid_request_error", "stream", "invalid_value", "stream must be a boolean"},
		{"stop number", "chat", `{"model":"m",` + msgs + `,"stop":5}`, 400, "invalid_request_error", "stop", "invalid_value", "stop must be"},
		{"stop five", "chat", `{"model":"m",` + msgs + `,"stop":["a","b","c","d","e"]}`, 400, "invalid_request_error", "stop", "invalid_value", "at most 4"},
		{"tool_choice bad", "chat", `{"model":"m",` + msgs + `,"tool_choice":"sometimes"}`, 400, "invalid_request_error", "tool_choice", "invalid_value", "sometimes"},
		{"stream_options without stream", "chat", `{"model":"m",` + msgs + `,"stream_options":{"include_usage":true}}`, 400, "invalid_request_error", "stream_options", "invalid_value", "stream is true"},
		{"tool without name", "chat", `{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{}}]}`, 400, "invalid_request_error", "tools[0].function.name", "invalid_value", "required"},
		{"too large", "chat", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 1<<20) + `"}]}`, 413, "invalid_request_error", "", "request_too_large", "1048576 bytes"},
		{"response_format string", "chat", `{"model":"m",` + msgs + `,"response_format":"json"}`, 400, "invalid_request_error", "response_format", "invalid_value", "object with a type"},
		{"response_format no type", "chat", `{"model":"m",` + msgs + `,"response_format":{}}`, 400, "invalid_request_error", "response_format", "invalid_value", "object with a type"},
		{"response_format bad type", "chat", `{"model":"m",` + msgs + `,"response_format":{"type":"xml"}}`, 400, "invalid_request_error", "response_format.type", "invalid_value", `"xml"`},
		{"json_schema missing", "chat", `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema"}}`, 400, "invalid_request_error", "response_format.json_schema", "invalid_value", "json_schema must be an object"},
		{"json_schema no name", "chat", `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`, 400, "invalid_request_error", "response_format.json_schema.name", "invalid_value", "name is required"},
		{"json_schema bad name", "chat", `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"a b"}}}`, 400, "invalid_request_error", "response_format.json_schema.name", "invalid_value", "letters, digits"},
		{"json_schema schema array", "chat", `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":[]}}}`, 400, "invalid_request_error", "response_format.json_schema.schema", "invalid_value", "JSON Schema object"},
		{"json_schema strict string", "chat", `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":"yes"}}}`, 400, "invalid_request_error", "response_format.json_schema", "invalid_value", "json_schema must be an object"},
		{"completions response_format", "completions", `{"model":"m","prompt":"x","response_format":{"type":"yaml"}}`, 400, "invalid_request_error", "response_format.type", "invalid_value", `"yaml"`},
		{"top_logprobs without logprobs", "chat", `{"model":"m",` + msgs + `,"top_logprobs":2}`, 400, "invalid_request_error", "top_logprobs", "invalid_value", "requires logprobs to be true"},
		{"top_logprobs with logprobs false", "chat", `{"model":"m",` + msgs + `,"logprobs":false,"top_logprobs":0}`, 400, "invalid_request_error", "top_logprobs", "invalid_value", "requires logprobs to be true"},
		{"top_logprobs 21", "chat", `{"model":"m",` + msgs + `,"logprobs":true,"top_logprobs":21}`, 400, "invalid_request_error", "top_logprobs", "invalid_value", "between 0 and 20, got 21"},
		{"top_logprobs negative", "chat", `{"model":"m",` + msgs + `,"logprobs":true,"top_logprobs":-1}`, 400, "invalid_request_error", "top_logprobs", "invalid_value", "between 0 and 20, got -1"},
		{"logprobs string", "chat", `{"model":"m",` + msgs + `,"logprobs":"yes"}`, 400, "invalid_request_error", "logprobs", "invalid_value", "logprobs must be a boolean"},
		{"completions logprobs 6", "completions", `{"model":"m","prompt":"x","logprobs":6}`, 400, "invalid_request_error", "logprobs", "invalid_value", "between 0 and 5, got 6"},
		{"completions logprobs true", "completions", `{"model":"m","prompt":"x","logprobs":true}`, 400, "invalid_request_error", "logprobs", "invalid_value", "logprobs must be"},
		{"prompt missing", "completions", `{"model":"m"}`, 400, "invalid_request_error", "prompt", "invalid_value", "prompt is required"},
		{"prompt two", "completions", `{"model":"m","prompt":["a","b"]}`, 400, "invalid_request_error", "prompt", "invalid_value", "exactly one"},
		{"prompt tokens", "completions", `{"model":"m","prompt":[1,2]}`, 400, "invalid_request_error", "prompt", "invalid_value", "token arrays"},
		{"completions temperature", "completions", `{"model":"m","prompt":"x","temperature":9}`, 400, "invalid_request_error", "temperature", "invalid_value", "between 0 and 2"},
		{"completions unknown model", "completions", `{"model":"x","prompt":"x"}`, 404, "not_found_error", "model", "model_not_found", `"x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/v1/chat/completions"
			if c.path == "completions" {
				path = "/v1/completions"
			}
			resp, body := post(t, srv.URL+path, c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			var er struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    string  `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &er); err != nil {
				t.Fatalf("not error JSON: %s", body)
			}
			e := er.Error
			param := ""
			if e.Param != nil {
				param = *e.Param
			}
			if e.Type != c.typ || param != c.param || e.Code != c.code || !strings.Contains(e.Message, c.msg) {
				t.Errorf("error = %+v (param %q), want type %s param %q code %s message containing %q", e, param, c.typ, c.param, c.code, c.msg)
			}
			if c.param != "" && !strings.Contains(e.Message, c.param) && c.status == 400 {
				t.Errorf("message %q does not name %s", e.Message, c.param)
			}
		})
	}
}

func TestErrorStatusMapping(t *testing.T) {
	cases := []struct {
		err        *stream.Error
		status     int
		typ, code  string
		retryAfter string
	}{
		{&stream.Error{Code: stream.CodeUnauthorized, Message: "missing API key"}, 401, "authentication_error", "invalid_api_key", ""},
		{&stream.Error{Code: stream.CodeForbidden, Message: "no"}, 403, "permission_error", "permission_denied", ""},
		{&stream.Error{Code: stream.CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, 429, "rate_limit_error", "rate_limit_exceeded", "2"},
		{&stream.Error{Code: stream.CodeInsufficientCredit, Message: "no credits"}, 402, "insufficient_quota", "insufficient_quota", ""},
		{&stream.Error{Code: stream.CodeUpstream, Message: "bad gateway"}, 502, "api_error", "upstream_error", ""},
		{&stream.Error{Code: stream.CodeOverloaded, Message: "queue full", RetryAfter: time.Second}, 503, "server_error", "overloaded", "1"},
		{&stream.Error{Code: stream.CodeInternal, Message: "bug"}, 500, "server_error", "internal_error", ""},
	}
	for _, c := range cases {
		t.Run(string(c.err.Code), func(t *testing.T) {
			srv, _ := newTestServer(t, map[string]stream.Provider{"m": errProvider(c.err)})
			resp, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`)
			if resp.StatusCode != c.status || resp.Header.Get("Retry-After") != c.retryAfter {
				t.Fatalf("status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			want := fmt.Sprintf(`{"error":{"message":%q,"type":%q,"param":null,"code":%q}}`+"\n", c.err.Message, c.typ, c.code)
			if body != want {
				t.Errorf("body %s, want %s", body, want)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	release := make(chan struct{})
	p := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return stream.Go(ctx, 1, func(ctx context.Context, emit func(stream.Event) bool) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			emit(stream.Delta("x"))
			emit(stream.Finished(stream.FinishStop))
			return nil
		}), nil
	})
	gw := &testGateway{providers: map[string]stream.Provider{"m": p}}
	mux := http.NewServeMux()
	NewServer(gw, Options{KeepAlive: time.Millisecond}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len(": keep-alive\n\n"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != ": keep-alive\n\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(rest), `"content":"x"`) || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("rest = %s", rest)
	}
}

func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stop":["x"],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"r"}]}`,
		`{"model":"m","messages":[],"max_tokens":-1,"temperature":3}`,
		`{"model":1}`, `[]`, `null`, `{"model":"m","messages":[{"role":"user","content":null}]}`,
		`{"model":"m","prompt":["a"],"stream":true}`, `{"model":"m","prompt":[[1,2]]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object"},"strict":true}}}`,
		`{"model":"m","prompt":"x","buffer_size":0,"timeout_ms":-1}`, `{"model":"m","messages":[{"role":"user","content":"x"}],"buffer_size":4097,"timeout_ms":1e30}`,
		`{"model":"m","prompt":"x","response_format":{"type":"json_object"}}`, `{"model":"m","prompt":"x","response_format":{"type":"json_schema","json_schema":null}}`,
	} {
		f.Add(s)
	}
	gw := &testGateway{providers: map[string]stream.Provider{"m": sliceProvider(stream.Delta("ok"), stream.Finished(stream.FinishStop))}}
	mux := http.NewServeMux()
	NewServer(gw, Options{}).Register(mux)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/chat/completions", "/v1/completions"} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
			if rec.Code >= 500 {
				t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body)
			}
			if rec.Code != 200 {
				var er ErrorResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error.Message == "" || er.Error.Type == "" {
					t.Fatalf("%s %q: bad error body %s", path, body, rec.Body)
				}
			}
		}
	})
}

func TestResponseFormatDecode(t *testing.T) {
	strict := true
	for _, tt := range []struct {
		name, format string
		want         *stream.ResponseFormat
	}{
		{"absent", ``, nil},
		{"null", `,"response_format":null`, nil},
		{"text", `,"response_format":{"type":"text"}`, &stream.ResponseFormat{Type: stream.FormatText}},
		{"json_object", `,"response_format":{"type":"json_object"}`, &stream.ResponseFormat{Type: stream.FormatJSONObject}},
		{"json_schema", `,"response_format":{"type":"json_schema","json_schema":{"name":"person","description":"a person","schema":{"type":"object","properties":{"n":{"type":"string"}}},"strict":true}}`,
			&stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "person", Description: "a person", Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"string"}}}`), Strict: &strict}},
		{"json_schema without schema", `,"response_format":{"type":"json_schema","json_schema":{"name":"free-form_1"}}`,
			&stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "free-form_1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c ChatRequest
			if err := json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]`+tt.format+`}`), &c); err != nil {
				t.Fatal(err)
			}
			req, err := c.ToRequest()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.ResponseFormat, tt.want) {
				t.Fatalf("chat: format %+v, want %+v", req.ResponseFormat, tt.want)
			}
			var cr CompletionRequest
			if err := json.Unmarshal([]byte(`{"model":"m","prompt":"x"`+tt.format+`}`), &cr); err != nil {
				t.Fatal(err)
			}
			if req, err = cr.ToRequest(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.ResponseFormat, tt.want) {
				t.Fatalf("completions: format %+v, want %+v", req.ResponseFormat, tt.want)
			}
		})
	}
}
