package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// fakeOllama serves a recorded NDJSON answer byte for byte, line by line
// with a flush after each, and keeps the last request body.
type fakeOllama struct {
	status int
	body   string
	got    map[string]any
	path   string
	header http.Header
}

func (f *fakeOllama) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.path, f.header = r.URL.Path, r.Header.Clone()
	f.got = nil
	json.NewDecoder(r.Body).Decode(&f.got)
	if f.status != 0 && f.status != 200 {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	for _, l := range strings.SplitAfter(f.body, "\n") {
		io.WriteString(w, l)
		w.(http.Flusher).Flush()
	}
}

func collect(t *testing.T, s stream.Stream) []stream.Event {
	t.Helper()
	evs, err := dialecttest.ReadAll(s)
	if err != nil {
		t.Fatalf("after %v: %v", evs, err)
	}
	return evs
}

func TestProviderChat(t *testing.T) {
	f := &fakeOllama{body: dialecttest.Fixture(t, "chat_thinking_tools.ndjson")}
	ts := httptest.NewServer(f)
	defer ts.Close()
	p := NewProvider(Config{BaseURL: ts.URL + "/", Header: http.Header{"X-Proxy": {"yes"}}})
	temp := 0.2
	req := &stream.Request{Model: "qwen3:0.6b", Thinking: true,
		Messages: []stream.Message{{Role: "user", Content: "weather in Paris?"}},
		Tools:    []stream.Tool{{Name: "get_current_weather", Parameters: json.RawMessage(`{"type":"object"}`)}},
		Sampling: stream.Sampling{MaxTokens: 10, Temperature: &temp, Stop: []string{"\n\n"}}}
	s, err := p.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, s)
	want := []stream.Event{
		stream.ThinkingDelta("The user"), stream.ThinkingDelta(" wants weather."), stream.Delta("Checking"),
		{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Index: 0, ID: "call_x1", Name: "get_current_weather", Arguments: `{"format":"celsius","location":"Paris, FR"}`}},
		stream.UsageEvent(stream.Usage{PromptTokens: 26, CompletionTokens: 282, PromptDuration: 342546000, GenerationDuration: 4535599000}),
		stream.Finished(stream.FinishToolCalls),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	wantBody := js(`{"model":"qwen3:0.6b","messages":[{"role":"user","content":"weather in Paris?"}],"stream":true,"think":true,
		"options":{"num_predict":10,"temperature":0.2,"stop":["\n\n"]},
		"tools":[{"type":"function","function":{"name":"get_current_weather","parameters":{"type":"object"}}}]}`)
	if f.path != "/api/chat" || !reflect.DeepEqual(f.got, wantBody) {
		t.Errorf("upstream got %s %v", f.path, f.got)
	}
	if f.header.Get("X-Proxy") != "yes" {
		t.Error("configured header not sent")
	}
}

func TestProviderRawPromptUsesGenerate(t *testing.T) {
	f := &fakeOllama{body: dialecttest.Fixture(t, "generate.ndjson")}
	ts := httptest.NewServer(f)
	defer ts.Close()
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "llama3.2", Prompt: "Why", RawPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, s)
	want := []stream.Event{stream.Delta("The"), stream.Delta(" sky"),
		stream.UsageEvent(stream.Usage{PromptTokens: 26, CompletionTokens: 259, PromptDuration: 130079000, GenerationDuration: 4232710000}),
		stream.Finished(stream.FinishLength)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	if f.path != "/api/generate" || f.got["raw"] != true || f.got["prompt"] != "Why" {
		t.Errorf("upstream got %s %v", f.path, f.got)
	}
}

// The format goes to Ollama as Ollama takes it: the schema object itself,
// or "json"; free text sends none.
func TestProviderFormat(t *testing.T) {
	schema := `{"type":"object","properties":{"age":{"type":"integer"}}}`
	for _, tt := range []struct {
		name   string
		raw    bool
		format *stream.ResponseFormat
		want   any // the format field the upstream got; nil: absent
	}{
		{"schema on chat", false, &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "p", Schema: json.RawMessage(schema)}, js(schema)},
		{"json_object on generate", true, &stream.ResponseFormat{Type: stream.FormatJSONObject}, "json"},
		{"schema without schema", false, &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "p"}, "json"},
		{"text", false, &stream.ResponseFormat{Type: stream.FormatText}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeOllama{body: dialecttest.Fixture(t, "generate.ndjson")}
			ts := httptest.NewServer(f)
			defer ts.Close()
			p := NewProvider(Config{BaseURL: ts.URL})
			req := &stream.Request{Model: "llama3.2", ResponseFormat: tt.format, Messages: []stream.Message{{Role: "user", Content: "hi"}}}
			if tt.raw {
				req.Messages, req.Prompt, req.RawPrompt = nil, "Why", true
			}
			if !p.CanFormat(req.Model, tt.format.Type) {
				t.Fatal("CanFormat refused")
			}
			s, err := p.Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			collect(t, s)
			got, ok := f.got["format"]
			if tt.want == nil && ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("format %#v (present %v), want %#v", got, ok, tt.want)
			}
		})
	}
}

func TestProviderErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		code   stream.Code
		msg    string
	}{
		{"not found", 404, `{"error":"model \"x\" not found, try pulling it first"}`, stream.CodeNotFound, `ollama: model "x" not found, try pulling it first`},
		{"bad request", 400, `{"error":"invalid options"}`, stream.CodeInvalidRequest, "ollama: invalid options"},
		{"overloaded", 503, `{"error":"server busy, please try again.  maximum pending requests exceeded"}`, stream.CodeOverloaded, "ollama: server busy, please try again.  maximum pending requests exceeded"},
		{"not json", 500, "boom", stream.CodeUpstream, "ollama: boom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := httptest.NewServer(&fakeOllama{status: c.status, body: c.body})
			defer ts.Close()
			_, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "x", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
			var e *stream.Error
			if !errors.As(err, &e) || e.Code != c.code || e.Message != c.msg || e.UpstreamStatus != c.status {
				t.Errorf("got %#v", err)
			}
		})
	}
}

func TestProviderMidStream(t *testing.T) {
	cases := []struct {
		name, body string
		want       []stream.Event
		err        string
	}{
		{"error line", "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n",
			[]stream.Event{stream.Delta("a"), stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "ollama: an error was encountered while running the model: unexpected EOF")), stream.Finished(stream.FinishError)}, ""},
		{"truncated", "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n",
			[]stream.Event{stream.Delta("a")}, "upstream_error: ollama: stream ended without a final object"},
		{"garbage", "{\"model\":\"m\",\"message\":{\"content\":\"a\"}}\nnot json\n",
			[]stream.Event{stream.Delta("a")}, "upstream_error: ollama: bad NDJSON line: invalid character 'o' in literal null (expecting 'u')"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := httptest.NewServer(&fakeOllama{body: c.body})
			defer ts.Close()
			s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []stream.Event
			var gotErr error
			for ev, err := range stream.Events(s) {
				if err != nil {
					gotErr = err
					break
				}
				got = append(got, ev)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("events %v, want %v", got, c.want)
			}
			if (gotErr == nil) != (c.err == "") || (gotErr != nil && gotErr.Error() != c.err) {
				t.Errorf("error %v, want %q", gotErr, c.err)
			}
		})
	}
}

// TestProviderCloseCancels checks that Close, or the call's context
// cancelled, ends the upstream request while it is still generating: the
// stream has no context of its own.
func TestProviderCloseCancels(t *testing.T) {
	dialecttest.CancelsUpstream(t, `{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"a"},"done":false}`+"\n",
		func(ctx context.Context, url string) (stream.Stream, error) {
			return NewProvider(Config{BaseURL: url}).Stream(ctx, &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
		})
}

// TestRoundTrip runs the provider against Runnel's own Ollama server: the
// events that go in come back out.
func TestRoundTrip(t *testing.T) {
	in := []stream.Event{
		stream.ThinkingDelta("hmm"), stream.Delta("Hé"), stream.Delta("llo \u2028 <b>"),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "c1", Name: "f", Arguments: `{"a":[1,2]}`}),
		stream.UsageEvent(stream.Usage{PromptTokens: 5, CompletionTokens: 4, PromptDuration: 10, GenerationDuration: 20}),
		stream.Finished(stream.FinishToolCalls),
	}
	ts := newTestServer(t, &dialecttest.Gateway{Events: in})
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s); !reflect.DeepEqual(got, in) {
		t.Errorf("round trip\n got %v\nwant %v", got, in)
	}
	// Before the first token, the server's status comes back as the same code.
	ts = newTestServer(t, &dialecttest.Gateway{Err: stream.Errorf(stream.CodeNotFound, "no such model")})
	_, err = NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	var e *stream.Error
	if !errors.As(err, &e) || e.Code != stream.CodeNotFound || e.Message != "ollama: no such model" {
		t.Errorf("got %v", err)
	}
}

func TestProviderModels(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/tags" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2025-05-04T17:37:44.706015396-07:00","size":2019393189,"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72","details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}`)
	}))
	defer ts.Close()
	models, err := NewProvider(Config{BaseURL: ts.URL, Name: "local"}).Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 1 || models[0].ID != "llama3.2:latest" || models[0].Provider != "local" || models[0].Created.Year() != 2025 {
		t.Errorf("models %+v", models)
	}
	_ = time.Second
}

// FuzzDecodeChunk checks the NDJSON line decoder never panics and that what
// it returns is a well-formed piece of a stream.
func FuzzDecodeChunk(f *testing.F) {
	for _, name := range []string{"chat_thinking_tools.ndjson", "generate.ndjson"} {
		b, _ := os.ReadFile("testdata/" + name)
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	}
	f.Add(`{"error":"boom"}`)
	f.Add(`{"message":{"tool_calls":[{"function":{"name":"f","arguments":null}}]},"done":true}`)
	f.Fuzz(func(t *testing.T, line string) {
		evs, calls, err := DecodeChunk([]byte(line), 0)
		if err != nil {
			var e *stream.Error
			if !errors.As(err, &e) || e.Code != stream.CodeUpstream {
				t.Fatalf("error %v is not an upstream error", err)
			}
			return
		}
		finishes := 0
		for i, ev := range evs {
			switch ev.Kind {
			case stream.KindFinish:
				finishes++
				if i != len(evs)-1 {
					t.Fatal("finish is not last")
				}
			case stream.KindToolCall:
				if !json.Valid([]byte(ev.ToolCall.Arguments)) {
					t.Fatalf("tool call arguments %q", ev.ToolCall.Arguments)
				}
			}
		}
		if finishes > 1 || calls < 0 {
			t.Fatalf("events %v", evs)
		}
	})
}

// Lines longer than the reader's buffer, and several lines in one read,
// decode whole: the buffer is small, as an open stream keeps it.
func TestProviderReadsLinesAroundItsBuffer(t *testing.T) {
	long := strings.Repeat("é", 3*lineBuffer)
	line := func(text string, done bool) string {
		b, _ := json.Marshal(map[string]any{"model": "m", "message": map[string]string{"role": "assistant", "content": text}, "done": done})
		return string(b) + "\n"
	}
	// One write of several lines, then a long line in one piece.
	body := line("a", false) + line("b", false) + line(long, false) + line("", true)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, body)
	}))
	defer ts.Close()
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, ev := range collect(t, s) {
		if ev.Kind == stream.KindDelta {
			text = append(text, ev.Text)
		}
	}
	if !reflect.DeepEqual(text, []string{"a", "b", long}) {
		t.Errorf("deltas of lengths %d, want 1, 1, %d", len(text), len(long))
	}
}

// Every request carries the configured headers and its own Content-Type
// and Accept, from maps made once: a client's cookie jar adds its cookies
// to a copy, never to the map the next call sends.
func TestProviderHeadersWithAJar(t *testing.T) {
	headers := make(chan http.Header, 2)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
		io.WriteString(w, benchAnswer)
	}))
	defer ts.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := NewProvider(Config{BaseURL: ts.URL, Header: http.Header{"X-Proxy": {"yes"}}, HTTPClient: &http.Client{Jar: jar}})
	for i, cookie := range []string{"", "s=1"} {
		s, err := p.Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
		if err != nil {
			t.Fatal(err)
		}
		collect(t, s)
		h := <-headers
		if h.Get("X-Proxy") != "yes" || h.Get("Content-Type") != "application/json" || h.Get("Accept") != "application/x-ndjson" || h.Get("Cookie") != cookie {
			t.Errorf("request %d's headers: %v", i, h)
		}
	}
	if len(p.ndjsonHeader) != 3 {
		t.Errorf("the provider's headers became %v", p.ndjsonHeader)
	}
}

// A base URL's path, query and trailing slash reach every request: the
// path before the API's, the query after it.
func TestProviderBaseURLs(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"models":[]}`)
			return
		}
		io.WriteString(w, `{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"hi"},"done":true,"done_reason":"stop"}`+"\n")
	}
	dialecttest.BaseURLs(t, answer, func(base string) error {
		p := NewProvider(Config{BaseURL: base})
		for _, req := range []*stream.Request{
			{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}},
			{Model: "m", Prompt: "hi", RawPrompt: true},
		} {
			s, err := p.Stream(context.Background(), req)
			if err != nil {
				return err
			}
			collect(t, s)
		}
		_, err := p.Models(context.Background())
		return err
	}, []string{"POST /api/chat", "POST /api/generate", "GET /api/tags"})
	// One that does not parse is each call's error, not a panic.
	if _, err := NewProvider(Config{BaseURL: "http://[::1"}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "hi"}); err == nil {
		t.Fatal("a bad base URL streamed")
	}
}

// TestNotifiesBeforeWait: the provider claims stream.WaitNotifier; its
// stream's line reader calls the BeforeWait function before the read
// that waits for the next line.
func TestNotifiesBeforeWait(t *testing.T) {
	line := func(text string) string {
		return `{"model":"m","message":{"role":"assistant","content":"` + text + `"},"done":false}` + "\n"
	}
	got := dialecttest.NotifiesBeforeWait(t, line("a"), line("b")+benchAnswer,
		func(url string) stream.Provider { return NewProvider(Config{BaseURL: url}) },
		&stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	want := []stream.Event{stream.Delta("b"), stream.Delta("Hello"), stream.UsageEvent(stream.Usage{PromptTokens: 3, CompletionTokens: 1}), stream.Finished(stream.FinishStop)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rest %v\nwant %v", got, want)
	}
}

// A completed stream leaves its connection in the pool, whether the body's
// end came after Close (a chunked body's held end, which a drain reads)
// or with its last line (a body of known length).
func TestProviderReusesConnections(t *testing.T) {
	srv := dialecttest.NewHeldEnd(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, benchAnswer)
	}))
	defer srv.Close()
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}}
	srv.ReusesConnections(t, NewProvider(Config{BaseURL: srv.URL}), req, 3)

	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(benchAnswer)))
		io.WriteString(w, benchAnswer)
	}))
	var conns atomic.Int32
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	p := NewProvider(Config{BaseURL: ts.URL})
	for range 5 {
		s, err := p.Stream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dialecttest.ReadAll(s); err != nil {
			t.Fatal(err)
		}
		dialect.WaitDrains()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential streams of known length, want 1", n)
	}
}
