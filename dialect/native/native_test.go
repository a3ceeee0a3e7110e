package native

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

var post = dialecttest.Post

func newTestServer(t *testing.T, gw *dialecttest.Gateway, opts Options) *httptest.Server {
	if opts.BodyLimit == 0 {
		opts.BodyLimit = 4096
	}
	return dialecttest.Serve(t, NewServer(gw, opts).Register)
}

// events reads an SSE body's data payloads, checking ids count up from 1
// (with a resumable stream's prefix, the same on every id, if any).
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	id := 0
	prefix := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id++
			if id == 1 && strings.HasPrefix(line, "id: rs_") {
				prefix = line[len("id: ") : strings.LastIndexByte(line, '-')+1]
			}
			if line != "id: "+prefix+itoa(id) {
				t.Errorf("line %q, want id %s%d", line, prefix, id)
			}
		case strings.HasPrefix(line, "data: "):
			out = append(out, strings.TrimPrefix(line, "data: "))
		case line == "" || strings.HasPrefix(line, ":"):
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	return out
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d events, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

var script = dialecttest.Script(
	[]stream.Event{stream.ThinkingDelta("Hmm.")},
	dialecttest.Text("Hello", ", \"world\"\n"),
	[]stream.Event{stream.UsageEvent(stream.Usage{PromptTokens: 7, CompletionTokens: 3}), stream.Finished(stream.FinishStop)},
)

var wantTokens = []string{
	`{"token":"Hmm.","done":false,"provider":"mock","channel":"thinking"}`,
	`{"token":"Hello","done":false,"provider":"mock"}`,
	`{"token":", \"world\"\n","done":false,"provider":"mock"}`,
	`{"token":"","done":true,"provider":"mock","finish_reason":"stop","usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10}}`,
}

func TestInferenceStream(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw, Options{})
	resp := post(t, ts.URL+"/api/v1/inference/stream", `{"model":"m","messages":[{"role":"user","content":"hi"}],"parameters":{"max_tokens":9,"enable_thinking":true}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	expect(t, events(t, resp.Body), wantTokens...)
	r := gw.Requests()[0]
	if r.Model != "m" || r.Sampling.MaxTokens != 9 || !r.Thinking || !reflect.DeepEqual(r.Messages, []stream.Message{{Role: "user", Content: "hi"}}) {
		t.Errorf("request %+v", r)
	}
}

// parameters.response_format reaches the gateway from the token stream and
// from typed generation.
func TestResponseFormat(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw, Options{})
	rf := `{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object"}}}`
	for _, resp := range []*http.Response{
		post(t, ts.URL+"/api/v1/inference/stream", `{"model":"m","prompt":"x","parameters":{"response_format":`+rf+`}}`),
		post(t, ts.URL+"/api/v1/generate", `{"model_name":"m","input":[{"type":"text","content":"x"}],"parameters":{"response_format":`+rf+`}}`),
	} {
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	want := &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "p", Schema: json.RawMessage(`{"type":"object"}`)}
	reqs := gw.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		if !reflect.DeepEqual(r.ResponseFormat, want) {
			t.Errorf("request %d: format %+v", i, r.ResponseFormat)
		}
	}
}

type ctxKey struct{}

func TestInferenceGetWithToken(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		if id, _ := ctx.Value(ctxKey{}).(string); id != "team-1/key-9" {
			return nil, stream.Errorf(stream.CodeUnauthorized, "identity %q", id)
		}
		return stream.Slice(script...), nil
	})}
	opts := Options{
		RequireToken: true,
		Identity:     func(ctx context.Context) string { return "team-1/key-9" },
		WithIdentity: func(ctx context.Context, id string) (context.Context, *stream.Error) {
			return context.WithValue(ctx, ctxKey{}, id), nil
		},
	}
	ts := newTestServer(t, gw, opts)
	resp := post(t, ts.URL+"/api/v1/stream-tokens", ``)
	var tok StreamToken
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		t.Fatalf("token %+v %v", tok, err)
	}
	if exp := time.Unix(tok.ExpiresAt, 0); exp.Before(time.Now()) || exp.After(time.Now().Add(DefaultTokenTTL+time.Second)) {
		t.Errorf("expires_at %v", exp)
	}
	q := url.Values{"model": {"m"}, "messages": {`[{"role":"user","content":"hi"}]`}, "parameters": {`{"temperature":0.1,"enable_thinking":true}`}, "token": {tok.Token}}
	resp, err := http.Get(ts.URL + "/api/v1/inference/stream?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	expect(t, events(t, resp.Body), append(wantTokens, "[DONE]")...)

	for name, q := range map[string]url.Values{
		"no token":     {"model": {"m"}, "prompt": {"hi"}},
		"forged token": {"model": {"m"}, "prompt": {"hi"}, "token": {forge(tok.Token)}},
	} {
		resp, err := http.Get(ts.URL + "/api/v1/inference/stream?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var er ErrorResponse
		json.NewDecoder(resp.Body).Decode(&er)
		resp.Body.Close()
		if resp.StatusCode != 401 || er.Error.Code != "unauthorized" {
			t.Errorf("%s: %d %+v", name, resp.StatusCode, er)
		}
	}
}

// forge changes one character in the middle of a token's signature, so the
// result always differs from the original (replacing the last characters
// with fixed ones can reproduce them by chance).
func forge(token string) string {
	b := []byte(token)
	i := len(b) - 8
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestInferenceGetAuthOff(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw, Options{})
	resp, err := http.Get(ts.URL + "/api/v1/inference/stream?prompt=hello")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Seed 002's EventSource client: no model (the server's default), no
	// thinking asked for, and a stream that ends with [DONE] so that it
	// closes instead of reconnecting.
	expect(t, events(t, resp.Body), append(wantTokens[1:], "[DONE]")...)
	r := gw.Requests()[0]
	if !reflect.DeepEqual(r.Messages, []stream.Message{{Role: "user", Content: "hello"}}) || r.Model != "" {
		t.Errorf("request %+v", r)
	}
}

// A client that reads only "token" (seed 000) never gets the model's
// reasoning unless it asked for it with parameters.enable_thinking; the
// POST stream has no [DONE] line, since its clients parse every data line.
func TestInferenceThinkingOptIn(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw, Options{})
	resp := post(t, ts.URL+"/api/v1/inference/stream", `{"prompt":"hi"}`)
	expect(t, events(t, resp.Body), wantTokens[1:]...)
	resp = post(t, ts.URL+"/api/v1/inference/stream", `{"prompt":"hi","parameters":{"enable_thinking":false}}`)
	expect(t, events(t, resp.Body), wantTokens[1:]...)
}

// Seed 003's StreamConfig: buffer_size and timeout_ms reach the request,
// and values out of range are a 400 naming the field, never ignored.
func TestStreamLimits(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw, Options{})
	resp := post(t, ts.URL+"/api/v1/inference/stream", `{"prompt":"hi","parameters":{"buffer_size":8,"timeout_ms":300}}`)
	resp.Body.Close()
	r := gw.Requests()[0]
	if resp.StatusCode != 200 || r.BufferSize != 8 || r.Timeouts.Total != 300*time.Millisecond {
		t.Fatalf("%d: buffer %d, timeouts %+v", resp.StatusCode, r.BufferSize, r.Timeouts)
	}
	for body, param := range map[string]string{
		`{"prompt":"hi","parameters":{"buffer_size":0}}`:                                                              "parameters.buffer_size",
		`{"prompt":"hi","parameters":{"buffer_size":100000}}`:                                                         "parameters.buffer_size",
		`{"prompt":"hi","parameters":{"timeout_ms":0}}`:                                                               "parameters.timeout_ms",
		`{"prompt":"hi","parameters":{"timeout_ms":-5}}`:                                                              "parameters.timeout_ms",
		`{"service_name":"x","model_name":"m","input":[{"type":"text","content":"x"}],"parameters":{"timeout_ms":0}}`: "parameters.timeout_ms",
	} {
		path := "/api/v1/inference/stream"
		if strings.Contains(body, "service_name") {
			path = "/api/v1/generate/stream"
		}
		resp := post(t, ts.URL+path, body)
		var er ErrorResponse
		json.NewDecoder(resp.Body).Decode(&er)
		resp.Body.Close()
		if resp.StatusCode != 400 || er.Error.Param != param || !strings.Contains(er.Error.Message, param) {
			t.Errorf("%s: %d %+v", body, resp.StatusCode, er)
		}
	}
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tk := NewTokens([]byte("secret"), time.Minute)
	tk.now = func() time.Time { return now }
	tok, exp := tk.Issue("team/a.b")
	if !exp.Equal(now.Add(time.Minute)) {
		t.Errorf("expiry %v", exp)
	}
	if id, err := tk.Verify(tok); err != nil || id != "team/a.b" {
		t.Errorf("verify: %q %v", id, err)
	}
	other := NewTokens([]byte("other"), time.Minute)
	other.now = tk.now
	if _, err := other.Verify(tok); err != ErrBadToken {
		t.Errorf("another secret verified it: %v", err)
	}
	// Changing the identity breaks the signature.
	parts := strings.Split(tok, ".")
	parts[2] = b64.EncodeToString([]byte("team/admin"))
	if _, err := tk.Verify(strings.Join(parts, ".")); err != ErrBadToken {
		t.Errorf("tampered token: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := tk.Verify(tok); err != ErrBadToken {
		t.Errorf("expired token: %v", err)
	}
}

func TestGenerateStream(t *testing.T) {
	ev := dialecttest.Script(script[:3], []stream.Event{
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "c1", Name: "f", Arguments: `{"a":`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `1}`}),
		stream.UsageEvent(stream.Usage{PromptTokens: 7, CompletionTokens: 3}), stream.Finished(stream.FinishToolCalls)})
	gw := &dialecttest.Gateway{Events: ev, Price: gateway.Price{InputPerMillion: 1e6, OutputPerMillion: 2e6}, Warnings: []string{"80% of the rate limit used"}}
	ts := newTestServer(t, gw, Options{})
	resp := post(t, ts.URL+"/api/v1/generate/stream", `{"service_name":"mock","model_name":"default","input":[{"type":"text","name":"system","content":"sys"},{"type":"text","name":"input","content":"hi"}],
		"history":[{"role":"user","content":"before"},{"role":"assistant","content":"ok"}],"parameters":{"enable_thinking":true,"max_tokens":50}}`)
	expect(t, events(t, resp.Body),
		`{"type":"text","name":"thinking","content":"Hmm.","done":false,"index":0,"is_final":false}`,
		`{"type":"text","name":"output","content":"Hello","done":false,"index":1,"is_final":false}`,
		`{"type":"text","name":"output","content":", \"world\"\n","done":false,"index":1,"is_final":false}`,
		`{"type":"tool_call","name":"f","content":"{\"a\":","done":false,"index":2,"is_final":false,"id":"c1"}`,
		`{"type":"tool_call","name":"f","content":"1}","done":false,"index":2,"is_final":false,"id":"c1"}`,
		`{"type":"text","name":"thinking","content":"","done":true,"index":0,"is_final":false}`,
		`{"type":"text","name":"output","content":"","done":true,"index":1,"is_final":false}`,
		`{"type":"tool_call","name":"f","content":"","done":true,"index":2,"is_final":true,"id":"c1"}`,
		`{"final":true,"usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10},"cost":{"input":7,"output":6,"total":13},"warnings":["80% of the rate limit used"],"finish_reason":"tool_calls","model":"mock/default","provider":"mock"}`,
	)
	r := gw.Requests()[0]
	want := []stream.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "before"}, {Role: "assistant", Content: "ok"}, {Role: "user", Content: "hi"}}
	if r.Model != "mock/default" || !r.Thinking || r.Sampling.MaxTokens != 50 || !reflect.DeepEqual(r.Messages, want) {
		t.Errorf("request %+v", r)
	}
}

// Seed 001's service_name "google-gemini" reaches the built-in gemini
// provider (registered when GEMINI_API_KEY is set) with no provider of
// that name configured.
func TestGenerateWellKnownService(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		if req.Model != "gemini/gemini-2.0-flash" {
			return nil, stream.Errorf(stream.CodeNotFound, "unknown model %q", req.Model)
		}
		return stream.Slice(script...), nil
	})}
	ts := newTestServer(t, gw, Options{})
	resp := post(t, ts.URL+"/api/v1/generate/stream", `{"service_name":"google-gemini","model_name":"gemini-2.0-flash","input":[{"type":"text","name":"input","content":"hi"}]}`)
	evs := events(t, resp.Body)
	if resp.StatusCode != 200 || len(evs) == 0 || !strings.Contains(evs[len(evs)-1], `"model":"gemini/gemini-2.0-flash"`) {
		t.Fatalf("%d %v", resp.StatusCode, evs)
	}
}

func TestGenerateServiceFallsBackToModel(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		if req.Model != "gemini-2.0-flash" {
			return nil, stream.Errorf(stream.CodeNotFound, "unknown model %q", req.Model)
		}
		return stream.Slice(script...), nil
	})}
	ts := newTestServer(t, gw, Options{})
	resp := post(t, ts.URL+"/api/v1/generate", `{"service_name":"google-gemini","model_name":"gemini-2.0-flash","input":[{"type":"text","name":"input","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	want := `{"output":[{"type":"text","name":"thinking","content":"Hmm.","done":true,"index":0,"is_final":false},{"type":"text","name":"output","content":"Hello, \"world\"\n","done":true,"index":1,"is_final":true}],"usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10},"cost":{"input":0,"output":0,"total":0},"warnings":[],"finish_reason":"stop","model":"gemini-2.0-flash","provider":"mock"}`
	if resp.StatusCode != 200 || string(b) != want {
		t.Errorf("got %d %s\nwant %s", resp.StatusCode, b, want)
	}
	models := []string{}
	for _, r := range gw.Requests() {
		models = append(models, r.Model)
	}
	if !reflect.DeepEqual(models, []string{"google-gemini/gemini-2.0-flash", "gemini/gemini-2.0-flash", "gemini-2.0-flash"}) {
		t.Errorf("tried %v", models)
	}
	// Unknown under both names: a 404.
	resp = post(t, ts.URL+"/api/v1/generate/stream", `{"service_name":"x","model_name":"y","input":[{"type":"text","content":"hi"}]}`)
	var er ErrorResponse
	json.NewDecoder(resp.Body).Decode(&er)
	if resp.StatusCode != 404 || er.Error.Message != `unknown model "y"` {
		t.Errorf("%d %+v", resp.StatusCode, er)
	}
}

func TestErrors(t *testing.T) {
	noStream := func(model string) bool { return model != "image-model" }
	cases := []struct {
		name, path, body string
		gwErr            error
		status           int
		code, msg        string
	}{
		{"malformed", "/api/v1/inference/stream", `{"model"`, nil, 400, "invalid_request", "invalid JSON: unexpected end of input"},
		{"wrong type", "/api/v1/inference/stream", `{"model":"m","messages":{}}`, nil, 400, "invalid_request", "messages must be an array, not object"},
		{"no messages", "/api/v1/inference/stream", `{"model":"m"}`, nil, 400, "invalid_request", "messages (or prompt) is required"},
		{"bad role", "/api/v1/inference/stream", `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, nil, 400, "invalid_request", `messages[0].role "wizard" must be system, user or assistant`},
		{"bad temperature", "/api/v1/generate/stream", `{"model_name":"m","input":[{"type":"text","content":"x"}],"parameters":{"temperature":3}}`, nil, 400, "invalid_request", "parameters.temperature must be between 0 and 2"},
		{"bad response_format", "/api/v1/inference/stream", `{"model":"m","prompt":"x","parameters":{"response_format":{"type":"yaml"}}}`, nil, 400, "invalid_request", `parameters.response_format.type must be text, json_object or json_schema, got "yaml"`},
		{"response_format without name", "/api/v1/generate", `{"model_name":"m","input":[{"type":"text","content":"x"}],"parameters":{"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}}`, nil, 400, "invalid_request", "parameters.response_format.json_schema.name is required: 1 to 64 letters, digits, _ or -"},
		{"response_format unsupported", "/api/v1/generate", `{"model_name":"m","input":[{"type":"text","content":"x"}],"parameters":{"response_format":{"type":"json_object"}}}`,
			stream.FormatUnsupported("engine", &stream.ResponseFormat{Type: stream.FormatJSONObject}), 400, "invalid_request", "response_format json_object is not supported by provider engine: it cannot constrain its output to JSON"},
		{"no model_name", "/api/v1/generate", `{"input":[{"type":"text","content":"x"}]}`, nil, 400, "invalid_request", "model_name is required"},
		{"image input", "/api/v1/generate", `{"model_name":"m","input":[{"type":"image","content":"x"}]}`, nil, 400, "invalid_request", `input[0].type "image" is not supported; only text inputs are`},
		{"cannot stream", "/api/v1/generate/stream", `{"model_name":"image-model","input":[{"type":"text","content":"x"}]}`, nil, 400, "invalid_request", `model "image-model" cannot stream; use the non-streaming endpoint POST /api/v1/generate`},
		{"oversized", "/api/v1/inference/stream", `{"model":"m","prompt":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, "too_large", "request body is larger than the limit of 4096 bytes"},
		{"unknown model", "/api/v1/inference/stream", `{"model":"nope","prompt":"x"}`, stream.Errorf(stream.CodeNotFound, "unknown model nope"), 404, "not_found", "unknown model nope"},
		{"no credits", "/api/v1/generate", `{"model_name":"m","input":[{"type":"text","content":"x"}]}`, stream.Errorf(stream.CodeInsufficientCredit, "no credits left"), 402, "insufficient_credits", "no credits left"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, &dialecttest.Gateway{Err: c.gwErr, Events: script}, Options{CanStream: noStream})
			resp := post(t, ts.URL+c.path, c.body)
			var er ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status || er.Error.Code != c.code || er.Error.Message != c.msg {
				t.Errorf("got %d %+v, want %d %s %q", resp.StatusCode, er, c.status, c.code, c.msg)
			}
		})
	}
}

func TestMidStreamError(t *testing.T) {
	ev := dialecttest.Script(dialecttest.Text("part"), []stream.Event{
		stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "upstream broke")), stream.Finished(stream.FinishError)})
	ts := newTestServer(t, &dialecttest.Gateway{Events: ev}, Options{})
	expect(t, events(t, post(t, ts.URL+"/api/v1/inference/stream", `{"model":"m","prompt":"x"}`).Body),
		`{"token":"part","done":false,"provider":"mock"}`,
		`{"token":"","done":true,"provider":"mock","finish_reason":"error","error":{"code":"upstream_error","message":"upstream broke"}}`)
	expect(t, events(t, post(t, ts.URL+"/api/v1/generate/stream", `{"model_name":"m","input":[{"type":"text","content":"x"}]}`).Body),
		`{"type":"text","name":"output","content":"part","done":false,"index":0,"is_final":false}`,
		`{"type":"error","name":"error","content":"upstream broke","done":true,"index":1,"is_final":false,"code":"upstream_error"}`,
		`{"type":"text","name":"output","content":"","done":true,"index":0,"is_final":false}`,
		`{"final":true,"usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},"cost":{"input":0,"output":0,"total":0},"warnings":[],"finish_reason":"error","model":"m","provider":"mock"}`)
}

func TestDisconnectCancels(t *testing.T) {
	p := dialecttest.NewBlocking(stream.Delta("first"))
	ts := newTestServer(t, &dialecttest.Gateway{Provider: p}, Options{})
	resp := post(t, ts.URL+"/api/v1/generate/stream", `{"model_name":"m","input":[{"type":"text","content":"x"}]}`)
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"first"`) {
			break
		}
	}
	resp.Body.Close()
	<-p.Cancelled
}

func TestKeepAlive(t *testing.T) {
	p := dialecttest.NewBlocking()
	ts := newTestServer(t, &dialecttest.Gateway{Provider: p}, Options{KeepAlive: time.Millisecond})
	resp := post(t, ts.URL+"/api/v1/inference/stream", `{"model":"m","prompt":"x"}`)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != ": keep-alive\n" {
		t.Errorf("first line %q, %v", line, err)
	}
	resp.Body.Close()
	<-p.Cancelled
}

// FuzzRequests: any body on any endpoint gets a 2xx or a 4xx in the native
// error shape.
func FuzzRequests(f *testing.F) {
	f.Add(0, `{"model":"m","messages":[{"role":"user","content":"hi"}],"parameters":{"max_tokens":3,"stop":["x"]}}`)
	f.Add(1, `{"service_name":"s","model_name":"m","input":[{"type":"text","name":"system","content":"s"},{"type":"text","content":"x"}],"history":[{"role":"assistant","content":"a"}]}`)
	f.Add(2, `{"model_name":"m","input":[{"type":"text","content":"x"}],"parameters":{"top_k":-1}}`)
	f.Add(3, `model=m&prompt=x&parameters={"max_tokens":0}`)
	f.Add(0, `{"model":"m","prompt":"x","parameters":{"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object"},"strict":true}}}}`)
	f.Add(3, `model=m&prompt=x&parameters={"response_format":{"type":"json_object"}}`)
	f.Add(3, `model=m&messages=[{"role":"user"}]&token=rst1.1.x.y`)
	f.Add(0, `{"prompt":"x","parameters":{"buffer_size":70000,"timeout_ms":9223372036854775807}}`)
	f.Add(3, `prompt=x&parameters={"buffer_size":4,"timeout_ms":1}`)
	gw := &dialecttest.Gateway{Events: script}
	mux := http.NewServeMux()
	NewServer(gw, Options{BodyLimit: 4096, KeepAlive: -1}).Register(mux)
	paths := []string{"/api/v1/inference/stream", "/api/v1/generate/stream", "/api/v1/generate"}
	f.Fuzz(func(t *testing.T, which int, body string) {
		var req *http.Request
		if which < 0 {
			which = -which
		}
		if which%4 == 3 {
			req = httptest.NewRequest("GET", "/api/v1/inference/stream?"+url.PathEscape(body), nil)
			req.URL.RawQuery = body
		} else {
			req = httptest.NewRequest("POST", paths[which%4], strings.NewReader(body))
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code >= 400 {
			var er ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error.Message == "" {
				t.Fatalf("error body %q: %v", rec.Body, err)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	tk := NewTokens([]byte("k"), time.Minute)
	good, _ := tk.Issue("id")
	f.Add(good)
	f.Add("rst1.9999999999.aWQ.")
	f.Fuzz(func(t *testing.T, tok string) {
		if id, err := tk.Verify(tok); err == nil && tok != good {
			t.Fatalf("forged token %q verified as %q", tok, id)
		}
	})
}

func TestReconnectIsRefused(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw, Options{})
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/inference/stream?model=m&prompt=hi", nil)
	req.Header.Set("Last-Event-ID", "4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(gw.Requests()) != 0 {
		t.Errorf("status %d, %d calls", resp.StatusCode, len(gw.Requests()))
	}
}
