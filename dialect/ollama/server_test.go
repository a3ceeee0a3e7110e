package ollama

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

func newTestServer(t *testing.T, gw *dialecttest.Gateway) *httptest.Server {
	return dialecttest.Serve(t, NewServer(gw, Options{BodyLimit: 4096}).Register)
}

var post = dialecttest.Post

// lines reads an NDJSON body into generic objects, dropping created_at (a
// timestamp) after checking it parses, and the durations after checking
// they are consistent.
func lines(t *testing.T, resp *http.Response) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		normalize(t, m)
		out = append(out, m)
	}
	return out
}

func normalize(t *testing.T, m map[string]any) {
	t.Helper()
	if ts, ok := m["created_at"].(string); ok {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("created_at %q: %v", ts, err)
		}
		delete(m, "created_at")
	} else if _, isErr := m["error"]; !isErr {
		t.Errorf("no created_at in %v", m)
	}
	if m["done"] == true && m["done_reason"] != "load" {
		total, _ := m["total_duration"].(float64)
		load, _ := m["load_duration"].(float64)
		prompt, _ := m["prompt_eval_duration"].(float64)
		eval, _ := m["eval_duration"].(float64)
		if total <= 0 || load < 0 || prompt < 0 || eval < 0 || load+prompt+eval > total {
			t.Errorf("inconsistent durations: total %v load %v prompt %v eval %v", total, load, prompt, eval)
		}
		for _, k := range []string{"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"} {
			delete(m, k)
		}
	}
}

func js(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

func expect(t *testing.T, got []map[string]any, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d lines, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if w := js(want[i]); !reflect.DeepEqual(got[i], w) {
			g, _ := json.Marshal(got[i])
			t.Errorf("line %d:\n got %s\nwant %s", i, g, want[i])
		}
	}
}

var script = dialecttest.Script(
	[]stream.Event{stream.ThinkingDelta("Let me see.")},
	dialecttest.Text("Hello", ", \"world\"\n"),
	[]stream.Event{stream.UsageEvent(stream.Usage{PromptTokens: 7, CompletionTokens: 3}), stream.Finished(stream.FinishStop)},
)

func TestChatStream(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw)
	resp := post(t, ts.URL+"/api/chat", `{"model":"m1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"think":true,"options":{"num_predict":5,"temperature":0.5,"stop":["x"],"num_ctx":2048}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	expect(t, lines(t, resp),
		`{"model":"m1","message":{"role":"assistant","content":"","thinking":"Let me see."},"done":false}`,
		`{"model":"m1","message":{"role":"assistant","content":"Hello"},"done":false}`,
		`{"model":"m1","message":{"role":"assistant","content":", \"world\"\n"},"done":false}`,
		`{"model":"m1","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":3}`,
	)
	req := gw.Requests()[0]
	temp := 0.5
	want := &stream.Request{Model: "m1", Thinking: true,
		Messages: []stream.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}},
		Sampling: stream.Sampling{MaxTokens: 5, Temperature: &temp, Stop: []string{"x"}}}
	want.Tools = []stream.Tool{}
	req.Tools = []stream.Tool{}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("request\n got %+v\nwant %+v", req, want)
	}
	if gw.Closed() != 1 {
		t.Errorf("%d calls closed, want 1", gw.Closed())
	}
}

func TestChatNotStreamed(t *testing.T) {
	ts := newTestServer(t, &dialecttest.Gateway{Events: script})
	resp := post(t, ts.URL+"/api/chat", `{"model":"m1","messages":[{"role":"user","content":"hi"}],"stream":false}`)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	expect(t, lines(t, resp),
		`{"model":"m1","message":{"role":"assistant","content":"Hello, \"world\"\n","thinking":"Let me see."},"done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":3}`)
}

func TestGenerate(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw)
	expect(t, lines(t, post(t, ts.URL+"/api/generate", `{"model":"m1","prompt":"hi","system":"sys"}`)),
		`{"model":"m1","response":"","thinking":"Let me see.","done":false}`,
		`{"model":"m1","response":"Hello","done":false}`,
		`{"model":"m1","response":", \"world\"\n","done":false}`,
		`{"model":"m1","response":"","done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":3}`,
	)
	expect(t, lines(t, post(t, ts.URL+"/api/generate", `{"model":"m1","prompt":"raw text","raw":true,"stream":false}`)),
		`{"model":"m1","response":"Hello, \"world\"\n","thinking":"Let me see.","done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":3}`)
	reqs := gw.Requests()
	if got := reqs[0].Messages; !reflect.DeepEqual(got, []stream.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "hi"}}) {
		t.Errorf("generate messages %+v", got)
	}
	if r := reqs[1]; r.Prompt != "raw text" || !r.RawPrompt || len(r.Messages) != 0 {
		t.Errorf("raw generate request %+v", r)
	}
}

func TestFormat(t *testing.T) {
	schema := `{"type":"object","properties":{"age":{"type":"integer"}},"required":["age"]}`
	for _, tt := range []struct {
		name, format string
		want         *stream.ResponseFormat
	}{
		{"absent", ``, nil},
		{"null", `,"format":null`, nil},
		{"empty", `,"format":""`, nil},
		{"json", `,"format":"json"`, &stream.ResponseFormat{Type: stream.FormatJSONObject}},
		{"schema", `,"format":` + schema, &stream.ResponseFormat{Type: stream.FormatJSONSchema, Schema: json.RawMessage(schema)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gw := &dialecttest.Gateway{Events: script}
			ts := newTestServer(t, gw)
			for _, body := range []string{
				`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false` + tt.format + `}`,
				`{"model":"m","prompt":"hi","stream":false` + tt.format + `}`,
			} {
				if resp := post(t, ts.URL+map[bool]string{true: "/api/chat", false: "/api/generate"}[strings.Contains(body, "messages")], body); resp.StatusCode != 200 {
					t.Fatalf("%s: status %d", body, resp.StatusCode)
				}
			}
			for i, r := range gw.Requests() {
				if !reflect.DeepEqual(r.ResponseFormat, tt.want) {
					t.Errorf("request %d: format %+v, want %+v", i, r.ResponseFormat, tt.want)
				}
			}
			if n := len(gw.Requests()); n != 2 {
				t.Fatalf("%d requests", n)
			}
		})
	}
}

func TestProviderTimings(t *testing.T) {
	ev := dialecttest.Script(dialecttest.Text("a"), []stream.Event{
		stream.UsageEvent(stream.Usage{PromptTokens: 1, CompletionTokens: 1, PromptDuration: 1234, GenerationDuration: 5678}),
		stream.Finished(stream.FinishLength)})
	ts := newTestServer(t, &dialecttest.Gateway{Events: ev})
	resp := post(t, ts.URL+"/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`)
	var c Chunk
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.PromptEvalDuration != 1234 || c.EvalDuration != 5678 || c.DoneReason != "length" {
		t.Errorf("metrics %+v", c.Metrics)
	}
}

func TestChatToolCalls(t *testing.T) {
	ev := []stream.Event{
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "call_a", Name: "weather", Arguments: `{"city":`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `"Paris"}`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 1, ID: "call_b", Name: "time"}),
		stream.UsageEvent(stream.Usage{PromptTokens: 4, CompletionTokens: 9}),
		stream.Finished(stream.FinishToolCalls),
	}
	gw := &dialecttest.Gateway{Events: ev}
	ts := newTestServer(t, gw)
	expect(t, lines(t, post(t, ts.URL+"/api/chat", `{"model":"m","messages":[{"role":"user","content":"weather?"},
		{"role":"assistant","content":"","tool_calls":[{"function":{"name":"weather","arguments":{"city":"Oslo"}}}]},
		{"role":"tool","content":"sunny","tool_name":"weather"}],
		"tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object"}}}]}`)),
		`{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_a","function":{"name":"weather","arguments":{"city":"Paris"}}},{"id":"call_b","function":{"index":1,"name":"time","arguments":{}}}]},"done":false}`,
		`{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":4,"eval_count":9}`,
	)
	r := gw.Requests()[0]
	if len(r.Tools) != 1 || r.Tools[0].Name != "weather" || string(r.Tools[0].Parameters) != `{"type":"object"}` {
		t.Errorf("tools %+v", r.Tools)
	}
	if m := r.Messages[1]; len(m.ToolCalls) != 1 || m.ToolCalls[0].Arguments != `{"city":"Oslo"}` {
		t.Errorf("assistant turn %+v", m)
	}
	if m := r.Messages[2]; m.Role != "tool" || m.Name != "weather" {
		t.Errorf("tool turn %+v", m)
	}
}

func TestErrors(t *testing.T) {
	notFound := stream.Errorf(stream.CodeNotFound, `model "nope" not found`)
	cases := []struct {
		name   string
		path   string
		body   string
		gwErr  error
		events []stream.Event
		status int
		msg    string
	}{
		{"malformed", "/api/chat", `{"model":`, nil, nil, 400, "invalid JSON: unexpected end of input"},
		{"not an object", "/api/chat", `[1]`, nil, nil, 400, "request body must be a JSON object, not array"},
		{"wrong type", "/api/chat", `{"model":"m","messages":"hi"}`, nil, nil, 400, "messages must be an array, not string"},
		{"wrong option type", "/api/generate", `{"model":"m","prompt":"x","options":{"temperature":"hot"}}`, nil, nil, 400, "options.temperature must be a number, not string"},
		{"missing model", "/api/chat", `{"messages":[{"role":"user","content":"hi"}]}`, nil, nil, 400, "model is required"},
		{"bad role", "/api/chat", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, nil, nil, 400, `messages[0].role "robot" must be system, user, assistant or tool`},
		{"bad think", "/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"think":"max"}`, nil, nil, 400, `invalid JSON: think must be true, false, "low", "medium" or "high"`},
		{"format xml", "/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"format":"xml"}`, nil, nil, 400, `format must be "json" or a JSON schema object`},
		{"format number", "/api/generate", `{"model":"m","prompt":"hi","format":5}`, nil, nil, 400, `format must be "json" or a JSON schema object`},
		{"format array", "/api/generate", `{"model":"m","prompt":"hi","format":[{"type":"object"}]}`, nil, nil, 400, `format must be "json" or a JSON schema object`},
		{"format unsupported upstream", "/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"format":"json"}`,
			stream.FormatUnsupported("engine", &stream.ResponseFormat{Type: stream.FormatJSONObject}), nil, 400,
			"format json_object is not supported by provider engine: it cannot constrain its output to JSON"},
		{"temperature range", "/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"options":{"temperature":-1}}`, nil, nil, 400, "options.temperature must be between 0 and 2"},
		{"oversized", "/api/generate", `{"model":"m","prompt":"` + strings.Repeat("x", 5000) + `"}`, nil, nil, 413, "request body is larger than the limit of 4096 bytes"},
		{"unknown model", "/api/chat", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, notFound, nil, 404, `model "nope" not found`},
		{"rate limited", "/api/generate", `{"model":"m","prompt":"hi"}`, &stream.Error{Code: stream.CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, nil, 429, "slow down"},
		{"error before output", "/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil,
			[]stream.Event{stream.ErrorEvent(stream.Errorf(stream.CodeOverloaded, "busy")), stream.Finished(stream.FinishError)}, 503, "busy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, &dialecttest.Gateway{Err: c.gwErr, Events: c.events})
			resp := post(t, ts.URL+c.path, c.body)
			var er ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status || er.Error != c.msg {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, er.Error, c.status, c.msg)
			}
			if c.status == 429 && resp.Header.Get("Retry-After") != "2" {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
}

func TestMidStreamError(t *testing.T) {
	ev := dialecttest.Script(dialecttest.Text("part"), []stream.Event{
		stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "upstream broke")), stream.Finished(stream.FinishError)})
	ts := newTestServer(t, &dialecttest.Gateway{Events: ev})
	resp := post(t, ts.URL+"/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	expect(t, lines(t, resp),
		`{"model":"m","message":{"role":"assistant","content":"part"},"done":false}`,
		`{"error":"upstream broke"}`)
}

func TestDisconnectCancels(t *testing.T) {
	p := dialecttest.NewBlocking(stream.Delta("first"))
	gw := &dialecttest.Gateway{Provider: p}
	ts := newTestServer(t, gw)
	resp := post(t, ts.URL+"/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"first"`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	resp.Body.Close()
	<-p.Cancelled // the upstream saw the cancellation
}

func TestEmptyChatLoads(t *testing.T) {
	gw := &dialecttest.Gateway{}
	ts := newTestServer(t, gw)
	expect(t, lines(t, post(t, ts.URL+"/api/chat", `{"model":"m","messages":[]}`)),
		`{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"load"}`)
	if len(gw.Requests()) != 0 {
		t.Error("a load request reached the gateway")
	}
}

func TestTagsVersionShow(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	gw := &dialecttest.Gateway{ModelList: []gateway.ModelInfo{{ID: "stories260K", Provider: "engine", Created: created, ContextLength: 512}}}
	ts := newTestServer(t, gw)

	resp, err := http.Get(ts.URL + "/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	var list ListResponse
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Models) != 1 || list.Models[0].Name != "stories260K" || !list.Models[0].ModifiedAt.Equal(created) || len(list.Models[0].Digest) != 64 {
		t.Errorf("tags %+v", list)
	}

	resp, err = http.Get(ts.URL + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	var v VersionResponse
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if v.Version != DefaultVersion {
		t.Errorf("version %q", v.Version)
	}

	var show ShowResponse
	resp = post(t, ts.URL+"/api/show", `{"model":"stories260K"}`)
	json.NewDecoder(resp.Body).Decode(&show)
	if resp.StatusCode != 200 || show.ModelInfo["general.context_length"] != float64(512) {
		t.Errorf("show %d %+v", resp.StatusCode, show)
	}
	if resp := post(t, ts.URL+"/api/show", `{"model":"other"}`); resp.StatusCode != 404 {
		t.Errorf("show unknown: %d", resp.StatusCode)
	}
}

// FuzzChatRequest feeds arbitrary bodies to the handlers: every answer must
// be a 2xx or a 4xx in Ollama's error shape, never a panic or a 5xx.
func FuzzChatRequest(f *testing.F) {
	f.Add("/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"think":"high","options":{"num_predict":-1}}`)
	f.Add("/api/chat", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":null}}]}],"tools":[{"type":"function","function":{"name":"f"}}]}`)
	f.Add("/api/generate", `{"model":"m","prompt":"x","raw":true,"stream":false,"images":[]}`)
	f.Add("/api/show", `{"name":"m"}`)
	f.Add("/api/chat", `{"model":"m","messages":[{"role":"user","content":"\u0000"}],"options":{"top_k":-3}}`)
	f.Add("/api/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"format":{"type":"object"}}`)
	f.Add("/api/generate", `{"model":"m","prompt":"x","format":"json"}`)
	f.Add("/api/generate", `{"model":"m","prompt":"x","format":{"type":`)
	gw := &dialecttest.Gateway{Events: script}
	mux := http.NewServeMux()
	NewServer(gw, Options{BodyLimit: 4096}).Register(mux)
	f.Fuzz(func(t *testing.T, path, body string) {
		if path != "/api/chat" && path != "/api/generate" && path != "/api/show" {
			path = "/api/chat"
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code >= 400 {
			var er ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error == "" {
				t.Fatalf("error body %q: %v", rec.Body, err)
			}
		}
	})
}

var _ = errors.New
var _ = bytes.NewReader
