package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// rawUpstream answers every request with the given pieces of body, flushed
// one by one, and records the last request.
type rawUpstream struct {
	status int
	header map[string]string
	pieces []string
	req    *http.Request
	body   []byte
}

func (u *rawUpstream) start(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.req = r
		u.body, _ = io.ReadAll(r.Body)
		ct := "text/event-stream"
		for k, v := range u.header {
			w.Header().Set(k, v)
			if k == "Content-Type" {
				ct = v
			}
		}
		w.Header().Set("Content-Type", ct)
		status := u.status
		if status == 0 {
			status = 200
		}
		w.WriteHeader(status)
		for _, p := range u.pieces {
			io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func collectEvents(t *testing.T, s stream.Stream) []stream.Event {
	t.Helper()
	defer s.Close()
	var out []stream.Event
	for ev, err := range stream.Events(s) {
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func chatReq() *stream.Request {
	return &stream.Request{Model: "up", Messages: []stream.Message{{Role: "user", Content: "hi"}}}
}

// describe renders events for comparison, with errors by code and message.
func describe(evs []stream.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Kind == stream.KindError {
			out = append(out, "error("+string(ev.Err.Code)+": "+ev.Err.Message+")")
			continue
		}
		out = append(out, ev.String())
	}
	return out
}

func TestProviderStreamsExactBytes(t *testing.T) {
	c := func(delta, extra string) string {
		return `{"id":"x","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + extra + `}]}`
	}
	cases := []struct {
		name   string
		pieces []string
		want   []string
	}{
		{
			name: "lf with keep-alives and usage",
			pieces: []string{
				": keep-alive\n\n",
				"data: " + c(`{"role":"assistant","content":""}`, "null") + "\n\n",
				"data: " + c(`{"reasoning_content":"think"}`, "null") + "\n\n",
				": ping\n\n",
				"data: " + c(`{"content":"Hel"}`, "null") + "\n\n",
				"data: " + c(`{"content":"lo"}`, "null") + "\n\n",
				"data: " + c(`{}`, `"stop"`) + "\n\n",
				`data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"completion_tokens_details":{"reasoning_tokens":1}}}` + "\n\n",
				"data: [DONE]\n\n",
			},
			want: []string{`delta(thinking,"think")`, `delta(output,"Hel")`, `delta(output,"lo")`, "usage({PromptTokens:3 CompletionTokens:2 ReasoningTokens:1 Estimated:false PromptDuration:0s GenerationDuration:0s})", "finish(stop)"},
		},
		{
			name: "crlf, splits mid-line and reasoning field",
			pieces: []string{
				"\xEF\xBB\xBFda", "ta: " + c(`{"reasoning":"r"}`, "null")[:20], c(`{"reasoning":"r"}`, "null")[20:] + "\r", "\n\r\n",
				"data:" + c(`{"content":"a\nb"}`, "null") + "\r\n\r\n",
				"data: " + c(`{}`, `"length"`) + "\r\rdata: [DONE]\r\r",
			},
			want: []string{`delta(thinking,"r")`, `delta(output,"a\nb")`, "finish(length)"},
		},
		{
			name: "tool calls",
			pieces: []string{
				"data: " + c(`{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":""}}]}`, "null") + "\n\n",
				"data: " + c(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}`, "null") + "\n\n",
				"data: " + c(`{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"put","arguments":"{}"}}]}`, "null") + "\n\n",
				"data: " + c(`{}`, `"tool_calls"`) + "\n\n",
				"data: [DONE]\n\n",
			},
			want: []string{"tool_call({Index:0 ID:call_1 Name:get Arguments:})", `tool_call({Index:0 ID: Name: Arguments:{"a":})`, "tool_call({Index:1 ID:call_2 Name:put Arguments:{}})", "finish(tool_calls)"},
		},
		{
			name:   "finish without [DONE]",
			pieces: []string{"data: " + c(`{"content":"x"}`, `"stop"`) + "\n\n"},
			want:   []string{`delta(output,"x")`, "finish(stop)"},
		},
		{
			name:   "truncated mid-stream",
			pieces: []string{"data: " + c(`{"content":"x"}`, "null") + "\n\n", "data: {\"id\":"},
			want:   []string{`delta(output,"x")`, "error(upstream_error: provider openai: the upstream closed the stream before it finished)", "finish(error)"},
		},
		{
			name:   "closed after a full event",
			pieces: []string{"data: " + c(`{"content":"x"}`, "null") + "\n\n"},
			want:   []string{`delta(output,"x")`, "error(upstream_error: provider openai: the upstream closed the stream before it finished)", "finish(error)"},
		},
		{
			name:   "garbage",
			pieces: []string{"data: <html>oops</html>\n\n"},
			want:   []string{"error(upstream_error: upstream sent an invalid chunk: <html>oops</html>)", "finish(error)"},
		},
		{
			name:   "error event mid-stream",
			pieces: []string{"data: " + c(`{"content":"x"}`, "null") + "\n\n", `data: {"error":{"message":"model crashed","type":"server_error"}}` + "\n\n", "data: [DONE]\n\n"},
			want:   []string{`delta(output,"x")`, "error(upstream_error: upstream error: model crashed)", "finish(error)"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := &rawUpstream{pieces: tc.pieces}
			srv := u.start(t)
			p := NewProvider(Config{BaseURL: srv.URL + "/v1", APIKey: "sk-secret"})
			s, err := p.Stream(context.Background(), chatReq())
			if err != nil {
				t.Fatal(err)
			}
			got := describe(collectEvents(t, s))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

func TestProviderRequest(t *testing.T) {
	u := &rawUpstream{pieces: []string{"data: [DONE]\n\n"}}
	srv := u.start(t)
	p := NewProvider(Config{BaseURL: srv.URL + "/v1/", APIKey: "sk-secret", Headers: map[string]string{"OpenAI-Organization": "org"}})
	temp, seed := 0.2, int64(9)
	req := &stream.Request{
		Model: "gpt-x",
		Messages: []stream.Message{
			{Role: "system", Content: "sys"},
			{Role: "user", Content: "hi", Name: "bob"},
			{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}}},
			{Role: "tool", Content: "42", ToolCallID: "c1"},
		},
		Sampling:   stream.Sampling{MaxTokens: 5, Temperature: &temp, Seed: &seed, Stop: []string{"END"}},
		Tools:      []stream.Tool{{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice: "f",
	}
	s, err := p.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	collectEvents(t, s)
	if u.req.URL.Path != "/v1/chat/completions" || u.req.Header.Get("Authorization") != "Bearer sk-secret" ||
		u.req.Header.Get("OpenAI-Organization") != "org" || u.req.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("request %s %v", u.req.URL, u.req.Header)
	}
	want := `{"model":"gpt-x","messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi","name":"bob"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"42","tool_call_id":"c1"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"temperature":0.2,"stop":["END"],"seed":9,"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}],"tool_choice":{"function":{"name":"f"},"type":"function"}}`
	if string(u.body) != want {
		t.Errorf("body:\n%s\nwant:\n%s", u.body, want)
	}

	// A raw prompt goes to /completions.
	u.pieces = []string{`data: {"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"ab","finish_reason":"length"}]}` + "\n\n", "data: [DONE]\n\n"}
	s, err = p.Stream(context.Background(), &stream.Request{Model: "m", Prompt: "Once", RawPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	got := describe(collectEvents(t, s))
	if u.req.URL.Path != "/v1/completions" || string(u.body) != `{"model":"m","prompt":"Once","stream":true,"stream_options":{"include_usage":true}}` {
		t.Errorf("completions request %s %s", u.req.URL.Path, u.body)
	}
	if want := []string{`delta(output,"ab")`, "finish(length)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events %q", got)
	}
}

// The response format reaches the upstream as OpenAI takes it, on both
// endpoints; a schema without a name (from Ollama's format) gets one.
func TestProviderResponseFormat(t *testing.T) {
	u := &rawUpstream{pieces: []string{"data: [DONE]\n\n"}}
	srv := u.start(t)
	p := NewProvider(Config{BaseURL: srv.URL})
	strict := false
	user := []stream.Message{{Role: "user", Content: "hi"}}
	for _, tt := range []struct {
		name string
		req  *stream.Request
		want string
	}{
		{"json_schema", &stream.Request{Model: "g", Messages: user, ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema,
			Name: "person", Description: "d", Schema: json.RawMessage(`{"type":"object","required":["n"]}`), Strict: &strict}},
			`{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_schema","json_schema":{"name":"person","description":"d","schema":{"type":"object","required":["n"]},"strict":false}}}`},
		{"unnamed schema", &stream.Request{Model: "g", Messages: user, ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object"}`)}},
			`{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object"}}}}`},
		{"json_object", &stream.Request{Model: "g", Messages: user, ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONObject}},
			`{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_object"}}`},
		{"completions", &stream.Request{Model: "g", Prompt: "x", RawPrompt: true, ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONObject}},
			`{"model":"g","prompt":"x","stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_object"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !p.CanFormat(tt.req.Model, tt.req.ResponseFormat.Type) {
				t.Fatal("the openai provider refused a format it forwards")
			}
			s, err := p.Stream(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			collectEvents(t, s)
			if string(u.body) != tt.want {
				t.Errorf("body:\n%s\nwant:\n%s", u.body, tt.want)
			}
		})
	}
}

func TestProviderUpstreamErrors(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		code       stream.Code
		msg        string
		param      string
		retryAfter time.Duration
	}{
		{"401", 401, nil, `{"error":{"message":"Incorrect API key provided: sk-secret","type":"invalid_request_error","code":"invalid_api_key"}}`, stream.CodeUnauthorized, "upstream answered 401: Incorrect API key provided: [redacted]", "", 0},
		{"403", 403, nil, `{"error":{"message":"not allowed"}}`, stream.CodeForbidden, "upstream answered 403: not allowed", "", 0},
		{"404", 404, nil, `{"error":{"message":"The model 'x' does not exist","param":"model","code":"model_not_found"}}`, stream.CodeNotFound, "upstream answered 404: The model 'x' does not exist", "model", 0},
		{"429", 429, map[string]string{"Retry-After": "3"}, `{"error":{"message":"Rate limit reached"}}`, stream.CodeRateLimited, "upstream answered 429: Rate limit reached", "", 3 * time.Second},
		{"429 quota", 429, nil, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`, stream.CodeInsufficientCredit, "upstream answered 429: You exceeded your current quota", "", 0},
		{"500 plain", 500, map[string]string{"Content-Type": "text/plain"}, "boom", stream.CodeUpstream, "upstream answered 500: boom", "", 0},
		{"502 empty", 502, nil, "", stream.CodeUpstream, "upstream answered 502: Bad Gateway", "", 0},
		{"503", 503, map[string]string{"Retry-After": "1"}, `{"error":"loading model"}`, stream.CodeOverloaded, "upstream answered 503: loading model", "", time.Second},
		{"400 detail", 400, nil, `{"detail":"bad field"}`, stream.CodeInvalidRequest, "upstream answered 400: bad field", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": "application/json"}
			for k, v := range tc.header {
				hdr[k] = v
			}
			u := &rawUpstream{status: tc.status, header: hdr, pieces: []string{tc.body}}
			srv := u.start(t)
			_, err := NewProvider(Config{BaseURL: srv.URL, APIKey: "sk-secret"}).Stream(context.Background(), chatReq())
			var e *stream.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v", err)
			}
			if e.Code != tc.code || e.Message != tc.msg || e.UpstreamStatus != tc.status || e.RetryAfter != tc.retryAfter || e.Param != tc.param {
				t.Errorf("error = %+v", e)
			}
		})
	}
}

func TestProviderWholeJSONAnswer(t *testing.T) {
	u := &rawUpstream{header: map[string]string{"Content-Type": "application/json"}, pieces: []string{
		`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
	}}
	srv := u.start(t)
	s, err := NewProvider(Config{BaseURL: srv.URL}).Stream(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	got := describe(collectEvents(t, s))
	want := []string{`delta(output,"whole")`, "usage({PromptTokens:1 CompletionTokens:1 ReasoningTokens:0 Estimated:false PromptDuration:0s GenerationDuration:0s})", "finish(stop)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events %q", got)
	}
}

func TestProviderModels(t *testing.T) {
	u := &rawUpstream{header: map[string]string{"Content-Type": "application/json"}, pieces: []string{
		`{"object":"list","data":[{"id":"gpt-a","object":"model","created":1700000000,"owned_by":"openai"},{"id":"local","object":"model"}]}`,
	}}
	srv := u.start(t)
	models, err := NewProvider(Config{BaseURL: srv.URL + "/v1", APIKey: "k", Name: "vllm"}).Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.req.URL.Path != "/v1/models" || u.req.Header.Get("Authorization") != "Bearer k" {
		t.Errorf("request %s %v", u.req.URL, u.req.Header)
	}
	if len(models) != 2 || models[0].ID != "gpt-a" || models[0].Provider != "vllm" || models[0].OwnedBy != "openai" ||
		models[0].Created.Unix() != 1700000000 || models[1].ID != "local" || !models[1].Created.IsZero() {
		t.Errorf("models = %+v", models)
	}
}

// TestProviderBackpressureAndClose shows that the provider reads only as
// the caller pulls, and that Close ends the upstream request.
func TestProviderBackpressureAndClose(t *testing.T) {
	srv := dialecttest.NewPulled("", `data: {"choices":[{"index":0,"delta":{"content":"t"}}]}`+"\n\n", -1)
	defer srv.Close()
	s, err := NewProvider(Config{BaseURL: srv.URL}).Stream(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	// Each token is sent only after the previous one was pulled.
	for i := 0; i < 5; i++ {
		if got := <-srv.Sent; got != i {
			t.Fatalf("sent %d, want %d", got, i)
		}
		ev, err := s.Recv()
		if err != nil || ev.Text != "t" {
			t.Fatalf("Recv = %v, %v", ev, err)
		}
	}
	s.Close()
	<-srv.Gone // the upstream handler saw its request cancelled
}

// TestRoundTrip encodes events with the server side and decodes them with
// the upstream side.
func TestRoundTrip(t *testing.T) {
	events := []stream.Event{
		stream.ThinkingDelta("let me think\n"),
		stream.Delta("Hello"),
		stream.Delta(", \"world\" é 😀\n"),
		{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: 0, ID: "call_1", Name: "lookup", Arguments: `{"q":`}},
		{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: 0, Arguments: `"x"}`}},
		stream.UsageEvent(stream.Usage{PromptTokens: 11, CompletionTokens: 7, ReasoningTokens: 3}),
		stream.Finished(stream.FinishToolCalls),
	}
	failing := []stream.Event{
		stream.Delta("part"),
		stream.ErrorEvent(&stream.Error{Code: stream.CodeTimeout, Message: "no token for 5s"}),
		stream.Finished(stream.FinishError),
	}
	srv, _ := newTestServer(t, map[string]stream.Provider{"ok": sliceProvider(events...), "bad": sliceProvider(failing...)})
	p := NewProvider(Config{BaseURL: srv.URL + "/v1"})

	s, err := p.Stream(context.Background(), &stream.Request{Model: "ok", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(collectEvents(t, s)), describe(events); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n%q\nwant:\n%q", got, want)
	}

	s, err = p.Stream(context.Background(), &stream.Request{Model: "bad", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`delta(output,"part")`, "error(upstream_error: upstream error: no token for 5s)", "finish(error)"}
	if got := describe(collectEvents(t, s)); !reflect.DeepEqual(got, want) {
		t.Errorf("failing round trip:\n%q\nwant:\n%q", got, want)
	}

	// Legacy completions too.
	s, err = p.Stream(context.Background(), &stream.Request{Model: "ok", Prompt: "p", RawPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{`delta(output,"Hello")`, `delta(output,", \"world\" é 😀\n")`, "usage({PromptTokens:11 CompletionTokens:7 ReasoningTokens:3 Estimated:false PromptDuration:0s GenerationDuration:0s})", "finish(tool_calls)"}
	if got := describe(collectEvents(t, s)); !reflect.DeepEqual(got, want) {
		t.Errorf("completions round trip:\n%q\nwant:\n%q", got, want)
	}

	// Errors before the stream keep their code across the hop.
	_, err = p.Stream(context.Background(), &stream.Request{Model: "nope", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	var e *stream.Error
	if !errors.As(err, &e) || e.Code != stream.CodeNotFound || e.Param != "model" || e.UpstreamStatus != 404 {
		t.Errorf("unknown model across the hop: %+v", err)
	}
}

func FuzzUpstreamStream(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": c\r\n\r\ndata: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"{\"}}]}}],\"usage\":{\"prompt_tokens\":1}}\r\r"))
	f.Add([]byte("data: {\"error\":{\"message\":\"x\"}}\n\n"))
	f.Add([]byte("data: [1,2]\n\ndata: null\n\n"))
	f.Add([]byte("\xef\xbb\xbfdata:{}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := &upstreamStream{ctx: context.Background(), body: io.NopCloser(bytes.NewReader(body)), events: sse.NewReader(bytes.NewReader(body))}
		var finishes, usages int
		var last stream.Event
		for i := 0; ; i++ {
			ev, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Recv error %v", err)
			}
			if finishes > 0 {
				t.Fatalf("event %v after finish", ev)
			}
			switch ev.Kind {
			case stream.KindFinish:
				finishes++
			case stream.KindUsage:
				usages++
			case stream.KindError:
				if ev.Err == nil || ev.Err.Code != stream.CodeUpstream || ev.Err.Message == "" {
					t.Fatalf("bad error event %+v", ev.Err)
				}
			}
			last = ev
		}
		if finishes != 1 || usages > 1 || last.Kind != stream.KindFinish {
			t.Fatalf("finishes %d usages %d last %v", finishes, usages, last)
		}
	})
}

// TestProviderReusesConnections: a completed stream leaves its connection
// in the pool, even though Recv stops reading at [DONE], and the end of
// the body comes after Close and the call's cancellation: the drain that
// Close hands it to reads it (dialect.Drain).
func TestProviderReusesConnections(t *testing.T) {
	// The end of the chunked body comes only once the client has its
	// events, so it is still unread when the stream ends.
	srv := dialecttest.NewHeldEnd(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}`+"\n\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, `data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	srv.ReusesConnections(t, NewProvider(Config{BaseURL: srv.URL}), chatReq(), 3)
}

// Request bodies shorter than, about as long as, and much longer than the
// upstream connections' write buffer reach the upstream whole, on one
// reused connection.
func TestProviderBodiesAroundWriteBuffer(t *testing.T) {
	u := &rawUpstream{pieces: []string{"data: [DONE]\n\n"}}
	srv := u.start(t)
	p := NewProvider(Config{BaseURL: srv.URL + "/v1"})
	for _, n := range []int{1, UpstreamWriteBuffer - 300, UpstreamWriteBuffer, 3 * UpstreamWriteBuffer, 100 << 10} {
		content := strings.Repeat("é-x", n/4+1)
		s, err := p.Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: content}}})
		if err != nil {
			t.Fatal(n, err)
		}
		collectEvents(t, s)
		var got ChatRequest
		if err := json.Unmarshal(u.body, &got); err != nil || len(got.Messages) != 1 {
			t.Fatalf("%d: body %.200q: %v", n, u.body, err)
		}
		var c string
		if err := json.Unmarshal(got.Messages[0].Content, &c); err != nil || c != content {
			t.Fatalf("%d: content of %d bytes arrived as %d bytes (%v)", n, len(content), len(c), err)
		}
	}
}

// Answers with a header line, events and chunks shorter than, about as
// long as, and much longer than the upstream connections' read buffer
// arrive whole, each event's text intact.
func TestProviderAnswersAroundReadBuffer(t *testing.T) {
	sizes := []int{1, UpstreamReadBuffer - 100, UpstreamReadBuffer, 3 * UpstreamReadBuffer, 100 << 10}
	u := &rawUpstream{header: map[string]string{"X-Long": strings.Repeat("h", 3*UpstreamReadBuffer)}}
	var want []string
	for i, n := range sizes {
		text := strings.Repeat(string(rune('a'+i)), n)
		want = append(want, text)
		u.pieces = append(u.pieces, `data: {"id":"c","choices":[{"index":0,"delta":{"content":"`+text+`"}}]}`+"\n\n")
	}
	// Several events in one chunk, longer than the buffer together.
	var joined strings.Builder
	for i := range 8 {
		text := strings.Repeat("z", 200+i)
		want = append(want, text)
		joined.WriteString(`data: {"id":"c","choices":[{"index":0,"delta":{"content":"` + text + `"}}]}` + "\n\n")
	}
	u.pieces = append(u.pieces, joined.String(), "data: [DONE]\n\n")
	p := NewProvider(Config{BaseURL: u.start(t).URL + "/v1"})
	for range 2 { // the second on the pooled connection
		s, err := p.Stream(context.Background(), chatReq())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range collectEvents(t, s) {
			if ev.Kind == stream.KindDelta {
				got = append(got, ev.Text)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %d deltas, want %d (lengths differ or text changed)", len(got), len(want))
		}
	}
}

// An open stream does not keep its upstream request's body: with a 64 KiB
// prompt it keeps no more heap (after a collection) than with a short one,
// within 16 KiB, and each of its bodies is given back while it is open.
// It kept the whole body, and net/http's copy for a retry, until the
// stream ended.
//
// The heap is read only while nothing else changes it. A round starts
// once the last round's streams are gone on both ends (their connections
// closed at the server, both ends' goroutines ended); given-back bodies
// are poisoned, not pooled, and a long round is read once all of its
// bodies are (the connections' writers are done with their pooled copy
// buffers by then); each reading follows two collections, the pools'
// lifetime. A round read while the last round's connections were torn
// down, or the last body's writer put its buffers back (a loaded
// machine), read up to 150 KB off (-2,811 bytes a stream).
func TestProviderLetsGoOfTheBodyItSent(t *testing.T) {
	release := make(chan struct{})
	var conns atomic.Int64 // the server's connections not closed yet
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handlers
	dialect.PoisonReleasedBodies(true)
	defer dialect.PoisonReleasedBodies(false)
	p := NewProvider(Config{BaseURL: srv.URL + "/v1"})
	idle := runtime.NumGoroutine() // the server's listener, no connection
	const n = 20
	// until polls done; its guard only ends a test that would hang.
	until := func(what string, done func() bool) {
		guard := time.Now().Add(time.Minute)
		for !done() {
			if time.Now().After(guard) {
				t.Fatalf("waited a minute for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC() // a pool's buffers outlive one collection
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	held := func(content string, sent int64) float64 {
		until("the last round's connections to close", func() bool {
			return conns.Load() == 0 && runtime.NumGoroutine() <= idle
		})
		was := dialect.PoisonedSentBodies()
		before := heap()
		streams := make([]stream.Stream, n)
		for i := range streams {
			s, err := p.Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: content}}})
			if err != nil {
				t.Fatal(err)
			}
			if ev, err := s.Recv(); err != nil || ev.Text != "hi" {
				t.Fatal(ev, err)
			}
			streams[i] = s
		}
		until("the open streams' bodies to be given back, as each is once sent", func() bool { return dialect.PoisonedSentBodies()-was >= sent })
		with := heap()
		if got := dialect.PoisonedSentBodies() - was; got != sent {
			t.Errorf("%d bodies given back, want %d", got, sent)
		}
		for _, s := range streams {
			s.Close()
		}
		return (float64(with) - float64(before)) / n
	}
	held("warm-up", 0) // twice: the first rounds grow what every round uses
	held("warm-up", 0)
	short, long := held("hi", 0), held(strings.Repeat("x", 64<<10), n)
	t.Logf("heap per open stream: %.0f bytes with a short prompt, %.0f with 64 KiB", short, long)
	if long-short > 16<<10 {
		t.Errorf("a 64 KiB prompt's stream keeps %.0f bytes more than a short one's", long-short)
	}
}

// FuzzUpstreamShape holds the per-token fast path (a chunk of the last
// chunk's shape that carries only content becomes its delta at once), the
// shape itself and the head to full parses of every chunk, and to
// encoding/json alone: the same events, in the same order, from any
// chunks after any first one.
func FuzzUpstreamShape(f *testing.F) {
	for i := range streamChunks {
		f.Add(streamChunks[1], streamChunks[i], streamChunks[2], uint8(i))
	}
	f.Add(liteSeeds[0], liteSeeds[0], liteSeeds[4], uint8(7))
	// Real upstreams' first, finish and usage chunks (fixedChunk's).
	for i := 0; i+2 < len(fixedForms); i += 3 {
		f.Add(fixedForms[i], fixedForms[i+1], fixedForms[i+2], uint8(i))
	}
	// A role chunk whose token chunks' shape is expected (chunkShape.expect).
	f.Add(`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"a","reasoning_content":"r"},"finish_reason":null}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"b","reasoning_content":"r"},"finish_reason":null}]}`, fixedForms[1], uint8(1))
	f.Add(fixedForms[0], strings.Replace(fixedForms[0], `"role":"assistant","content":"","refusal":null`, `"content":"b"`, 1), fixedForms[1], uint8(2))
	// OpenAI's obfuscation, last, another on every chunk (with usage
	// null or none; near misses: empty, escaped, not last, a second).
	for _, o := range [][3]string{{`"a"`, `"bc"`, `"d12"`}, {`"a"`, `""`, `"x"y"`}, {`"a"`, `"b","z":1`, `"c","obfuscation":"d"`}} {
		c := func(content, tail, o string) string {
			return mockHead + `[{"index":0,"delta":{"content":"` + content + `"},"logprobs":null,"finish_reason":null}]` + tail + `,"obfuscation":` + o + `}`
		}
		f.Add(c("a", `,"usage":null`, o[0]), c("b", `,"usage":null`, o[1]), c("c", `,"usage":null`, o[2]), uint8(1))
		f.Add(c("a", "", o[0]), c("b", "", o[1]), c("c", "", o[2]), uint8(0))
	}
	f.Add(strings.TrimSuffix(fixedForms[0], "}")+`,"obfuscation":"r0"}`, strings.Replace(fixedForms[0], `"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`, `"content":"b"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Q"}`, 1),
		strings.TrimSuffix(fixedForms[1], "}")+`,"obfuscation":"f"}`, uint8(3))
	// Shapes with more than content: each of their chunks parses in full.
	for _, shape := range []string{
		`{"choices":[{"index":0,"delta":{"reasoning_content":"r","content":"%s"},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":"length"}]}`,
		`{"choices":[{"index":0,"delta":{"content":"%s"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`,
	} {
		c := func(text string) string { return fmt.Sprintf(shape, text) }
		f.Add(c("a"), c("b"), c("c"), uint8(0))
	}
	f.Fuzz(func(t *testing.T, first, next, last string, n uint8) {
		var body strings.Builder
		for i, c := range []string{first, next, last, next} {
			if strings.ContainsAny(c, "\r\n") {
				return
			}
			if i == int(n%4) {
				body.WriteString("id: 7\n")
			}
			body.WriteString("data: " + c + "\n\n")
		}
		body.WriteString("data: [DONE]\n\n")
		shaped := upstreamEvents(body.String(), parseShaped, false)
		for _, mode := range []parseMode{parseLiteOnly, parseJSON} {
			if full := upstreamEvents(body.String(), mode, false); !slices.Equal(shaped, full) {
				t.Fatalf("with the shape and head %q\n%-23s %q", shaped, mode, full)
			}
		}
		// The token path, for every read and for those n picks.
		for _, use := range [][]byte{nil, {n}} {
			if tokens := tokenEvents(t, body.String(), n&0x80 != 0, use); !slices.Equal(shaped, tokens) {
				t.Fatalf("with the shape and head %q\nthrough the token path %q", shaped, tokens)
			}
		}
	})
}

// wholeJSON reads the media type as mime.ParseMediaType does, parsing
// only what is not the event stream.
func TestWholeJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream": false, "text/event-stream; charset=utf-8": false, "": false,
		"application/json": true, "Application/JSON; charset=utf-8": true, "application/x-ndjson": false, "text/plain": false,
	} {
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		if got := wholeJSON(h["Content-Type"]); got != want {
			t.Errorf("%q: %v", ct, got)
		}
	}
}

// Long upstream bodies come from a pool and go back to it once sent:
// concurrent calls, each with a prompt of its own, some answered before
// their body was read, send each its own bytes, whole, call after call.
func TestProviderSendsEachBodyWholeThroughThePool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := strings.Repeat(r.Header.Get("X-Want"), 9000)
		early := r.Header.Get("X-Early") != ""
		w.Header().Set("Content-Type", "text/event-stream")
		if early { // the answer leaves before the body is read
			http.NewResponseController(w).EnableFullDuplex()
			io.WriteString(w, `data: {"id":"c","choices":[{"index":0,"delta":{"content":"early"}}]}`+"\n\n")
			w.(http.Flusher).Flush()
		}
		var body ChatRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) != 1 || string(body.Messages[0].Content) != `"`+want+`"` {
			io.WriteString(w, `data: {"id":"c","choices":[{"index":0,"delta":{"content":"wrong body"}}]}`+"\n\n")
			return
		}
		io.WriteString(w, `data: {"id":"c","choices":[{"index":0,"delta":{"content":"ok"}}]}`+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	dialecttest.LongPrompts(t, func(c string, n int) stream.Provider {
		if n%2 == 1 {
			return NewProvider(Config{BaseURL: srv.URL + "/v1", Headers: map[string]string{"X-Want": c, "X-Early": "1"}})
		}
		return NewProvider(Config{BaseURL: srv.URL + "/v1", Headers: map[string]string{"X-Want": c}})
	}, "ok", "earlyok")
}
