package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// fakeGemini serves a recorded answer byte for byte, one event per flush.
type fakeGemini struct {
	status int
	body   string
	path   string
	query  string
	header http.Header
	got    map[string]any
}

func (f *fakeGemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.path, f.query, f.header = r.URL.Path, r.URL.RawQuery, r.Header.Clone()
	f.got = nil
	json.NewDecoder(r.Body).Decode(&f.got)
	if f.status > 200 {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, frame := range strings.SplitAfter(f.body, "\r\n\r\n") {
		io.WriteString(w, frame)
		w.(http.Flusher).Flush()
	}
}

func TestStreamThinking(t *testing.T) {
	f := &fakeGemini{body: dialecttest.Fixture(t, "thinking.sse")}
	ts := httptest.NewServer(f)
	defer ts.Close()
	temp := 0.4
	s, err := NewProvider(Config{BaseURL: ts.URL + "/v1beta", APIKey: "k-1"}).Stream(context.Background(), &stream.Request{
		Model: "gemini-2.5-flash", Thinking: true,
		Messages: []stream.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "rain?"}},
		Sampling: stream.Sampling{MaxTokens: 64, Temperature: &temp, Stop: []string{"END"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := dialecttest.ReadAll(s)
	want := []stream.Event{
		stream.ThinkingDelta("**Weighing the question**\n\nThe user asks about rain."),
		stream.Delta("Rain forms when"), stream.Delta(" water vapour condenses."),
		stream.UsageEvent(stream.Usage{PromptTokens: 9, CompletionTokens: 48, ReasoningTokens: 41}),
		stream.Finished(stream.FinishStop),
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("events (%v)\n got %v\nwant %v", err, got, want)
	}
	if f.path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || f.query != "alt=sse" || f.header.Get("X-Goog-Api-Key") != "k-1" {
		t.Errorf("request %s?%s %v", f.path, f.query, f.header)
	}
	var wantBody map[string]any
	json.Unmarshal([]byte(`{"contents":[{"role":"user","parts":[{"text":"rain?"}]}],"systemInstruction":{"parts":[{"text":"sys"}]},
		"generationConfig":{"maxOutputTokens":64,"temperature":0.4,"stopSequences":["END"],"thinkingConfig":{"includeThoughts":true}}}`), &wantBody)
	if !reflect.DeepEqual(f.got, wantBody) {
		b, _ := json.Marshal(f.got)
		t.Errorf("body %s", b)
	}
}

func TestResponseFormat(t *testing.T) {
	schema := `{"type":"object","properties":{"n":{"type":"string"}},"required":["n"]}`
	for _, tt := range []struct {
		name   string
		format *stream.ResponseFormat
		config string // the generationConfig the upstream gets
	}{
		{"json_schema", &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "p", Schema: json.RawMessage(schema)},
			`{"responseMimeType":"application/json","responseJsonSchema":` + schema + `}`},
		{"json_object", &stream.ResponseFormat{Type: stream.FormatJSONObject}, `{"responseMimeType":"application/json"}`},
		{"json_schema without schema", &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "p"}, `{"responseMimeType":"application/json"}`},
		{"text", &stream.ResponseFormat{Type: stream.FormatText}, `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeGemini{body: dialecttest.Fixture(t, "thinking.sse")}
			ts := httptest.NewServer(f)
			defer ts.Close()
			p := NewProvider(Config{BaseURL: ts.URL})
			if !p.CanFormat("g", tt.format.Type) {
				t.Fatal("CanFormat refused")
			}
			s, err := p.Stream(context.Background(), &stream.Request{Model: "g", ResponseFormat: tt.format,
				Messages: []stream.Message{{Role: "user", Content: "hi"}}})
			if err != nil {
				t.Fatal(err)
			}
			dialecttest.ReadAll(s)
			var want any
			json.Unmarshal([]byte(tt.config), &want)
			if got := f.got["generationConfig"]; !reflect.DeepEqual(got, want) {
				b, _ := json.Marshal(got)
				t.Errorf("generationConfig %s, want %s", b, tt.config)
			}
		})
	}
}

func TestStreamToolCall(t *testing.T) {
	f := &fakeGemini{body: dialecttest.Fixture(t, "tool.sse")}
	ts := httptest.NewServer(f)
	defer ts.Close()
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{
		Model: "models/gemini-2.0-flash", ToolChoice: "get_weather",
		Tools: []stream.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}},
		Messages: []stream.Message{{Role: "user", Content: "weather?"},
			{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "c0", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
			{Role: "tool", ToolCallID: "c0", Content: "rainy"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := dialecttest.ReadAll(s)
	want := []stream.Event{
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "call_0", Name: "get_weather", Arguments: `{"city": "Paris"}`}),
		stream.UsageEvent(stream.Usage{PromptTokens: 30, CompletionTokens: 5}),
		stream.Finished(stream.FinishToolCalls),
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("events (%v)\n got %v\nwant %v", err, got, want)
	}
	var wantBody map[string]any
	json.Unmarshal([]byte(`{"contents":[{"role":"user","parts":[{"text":"weather?"}]},
		{"role":"model","parts":[{"functionCall":{"id":"c0","name":"get_weather","args":{"city":"Oslo"}}}]},
		{"role":"user","parts":[{"functionResponse":{"id":"c0","name":"get_weather","response":{"result":"rainy"}}}]}],
		"generationConfig":{},"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"object"}}]}],
		"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}}`), &wantBody)
	if f.path != "/models/gemini-2.0-flash:streamGenerateContent" || !reflect.DeepEqual(f.got, wantBody) {
		b, _ := json.Marshal(f.got)
		t.Errorf("%s body %s", f.path, b)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		code   stream.Code
		msg    string
	}{
		{400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`, stream.CodeInvalidRequest, "gemini: API key not valid. Please pass a valid API key."},
		{404, `{"error":{"code":404,"message":"models/nope is not found for API version v1beta","status":"NOT_FOUND"}}`, stream.CodeNotFound, "gemini: models/nope is not found for API version v1beta"},
		{429, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`, stream.CodeRateLimited, "gemini: Resource has been exhausted"},
		{503, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`, stream.CodeOverloaded, "gemini: The model is overloaded."},
	} {
		ts := httptest.NewServer(&fakeGemini{status: c.status, body: c.body})
		_, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "x"})
		ts.Close()
		var e *stream.Error
		if !errors.As(err, &e) || e.Code != c.code || e.Message != c.msg || e.UpstreamStatus != c.status {
			t.Errorf("%d: %v", c.status, err)
		}
	}
	// A stream cut before any finish reason is an error, not a silent end.
	full := dialecttest.Fixture(t, "thinking.sse")
	ts := httptest.NewServer(&fakeGemini{body: full[:strings.LastIndex(full, "data:")]})
	defer ts.Close()
	s, _ := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "x"})
	evs, err := dialecttest.ReadAll(s)
	if len(evs) != 2 || err == nil || err.Error() != "upstream_error: gemini: stream ended without a finish reason" {
		t.Errorf("truncated: %v %v", evs, err)
	}
}

// Close, or the call's context cancelled (a client gone), ends the
// upstream request while it is still generating: the stream has no
// context of its own.
func TestCloseCancels(t *testing.T) {
	dialecttest.CancelsUpstream(t, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"index\":0}]}\r\n\r\n",
		func(ctx context.Context, url string) (stream.Stream, error) {
			return NewProvider(Config{BaseURL: url}).Stream(ctx, &stream.Request{Model: "m", Prompt: "x"})
		})
}

func TestModels(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"models":[{"name":"models/gemini-2.0-flash","inputTokenLimit":1048576,"supportedGenerationMethods":["generateContent","countTokens","streamGenerateContent"]},{"name":"models/embedding-001","supportedGenerationMethods":["embedContent"]}]}`)
	}))
	defer ts.Close()
	ms, err := NewProvider(Config{BaseURL: ts.URL}).Models(context.Background())
	if err != nil || len(ms) != 1 || ms[0].ID != "gemini-2.0-flash" || ms[0].ContextLength != 1048576 || ms[0].Provider != "gemini" {
		t.Errorf("%+v %v", ms, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"thinking.sse", "tool.sse"} {
		b, _ := os.ReadFile("testdata/" + name)
		for _, ev := range strings.Split(string(b), "\r\n\r\n") {
			f.Add(strings.TrimPrefix(ev, "data: "))
		}
	}
	f.Add(`{"error":{"code":500,"message":"x","status":"INTERNAL"}}`)
	f.Add(`{"promptFeedback":{"blockReason":"SAFETY"}}`)
	f.Fuzz(func(t *testing.T, data string) {
		var d Decoder
		evs, err := d.Decode([]byte(data))
		if err != nil {
			var e *stream.Error
			if !errors.As(err, &e) || e.Code != stream.CodeUpstream {
				t.Fatalf("error %v", err)
			}
		}
		for _, ev := range evs {
			if ev.Kind == stream.KindToolCall && !json.Valid([]byte(ev.ToolCall.Arguments)) {
				t.Fatalf("arguments %q", ev.ToolCall.Arguments)
			}
		}
		if end, ok := d.End(); ok && end[len(end)-1].Kind != stream.KindFinish {
			t.Fatalf("end %v", end)
		}
	})
}

// TestNotifiesBeforeWait: the provider claims stream.WaitNotifier; its
// stream calls the BeforeWait function before the read that waits for
// the next chunk.
func TestNotifiesBeforeWait(t *testing.T) {
	chunks := strings.SplitAfter(dialecttest.Fixture(t, "thinking.sse"), "\r\n\r\n")
	got := dialecttest.NotifiesBeforeWait(t, chunks[0], strings.Join(chunks[1:], ""),
		func(url string) stream.Provider { return NewProvider(Config{BaseURL: url + "/v1beta"}) },
		&stream.Request{Model: "m", Thinking: true, Messages: []stream.Message{{Role: "user", Content: "rain?"}}})
	if len(got) != 4 || got[len(got)-1] != stream.Finished(stream.FinishStop) {
		t.Fatalf("rest %v", got)
	}
}

// A base URL's path, query and trailing slash reach every request: the
// path before the API's, the query after it; the model's name escaped.
func TestProviderBaseURLs(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet:
			io.WriteString(w, `{"models":[]}`)
		case strings.Contains(r.URL.Path, ":countTokens"):
			io.WriteString(w, `{"totalTokens":3}`)
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, benchAnswer)
		}
	}
	dialecttest.BaseURLs(t, answer, func(base string) error {
		p := NewProvider(Config{BaseURL: base, APIKey: "k"})
		req := &stream.Request{Model: "models/gemini 2", Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}}
		s, err := p.Stream(context.Background(), req)
		if err != nil {
			return err
		}
		if _, err := dialecttest.ReadAll(s); err != nil {
			return err
		}
		if _, err := p.CountTokens(context.Background(), req); err != nil {
			return err
		}
		_, err = p.Models(context.Background())
		return err
	}, []string{
		"POST /models/gemini%202:streamGenerateContent?alt=sse",
		"POST /models/gemini%202:countTokens",
		"GET /models?pageSize=1000",
	})
}
