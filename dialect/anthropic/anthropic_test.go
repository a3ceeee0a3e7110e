package anthropic

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

func newTestServer(t *testing.T, gw *dialecttest.Gateway) *httptest.Server {
	return dialecttest.Serve(t, NewServer(gw, Options{BodyLimit: 4096}).Register)
}

var post = dialecttest.Post

// newReader is an SSE reader of r as a stream's (Events), for tests of
// the decoder without a stream.
func newReader(r io.Reader) *sse.Reader {
	sr := sse.NewReader(r)
	sr.SetMaxEventSize(maxEvent)
	sr.SetNames(wireNames)
	return sr
}

// frames reads an SSE body as "event|data" strings.
func frames(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sr := newReader(r)
	for {
		ev, err := sr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Event+"|"+ev.Data)
	}
}

func expectFrames(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d frames, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("frame %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

var script = dialecttest.Script(
	[]stream.Event{stream.ThinkingDelta("Let me see.")},
	dialecttest.Text("Hello", ", \"world\"\n"),
	[]stream.Event{
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "call_1", Name: "weather"}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `{"city":`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `"Paris"}`}),
		stream.UsageEvent(stream.Usage{PromptTokens: 7, CompletionTokens: 3}),
		stream.Finished(stream.FinishToolCalls),
	},
)

func TestMessagesStream(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	ts := newTestServer(t, gw)
	resp := post(t, ts.URL+"/v1/messages", `{"model":"m1","max_tokens":100,"stream":true,"system":"be brief",
		"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"yes?"}]},{"role":"user","content":[{"type":"text","text":"weather"}]}],
		"thinking":{"type":"enabled","budget_tokens":50},"temperature":0.5,"stop_sequences":["END"],
		"tools":[{"name":"weather","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	expectFrames(t, frames(t, resp.Body),
		`message_start|{"type":"message_start","message":{"id":"msg_call_1","type":"message","role":"assistant","model":"m1","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`,
		`ping|{"type":"ping"}`,
		`content_block_start|{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`content_block_delta|{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me see."}}`,
		`content_block_stop|{"type":"content_block_stop","index":0}`,
		`content_block_start|{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`content_block_delta|{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}`,
		`content_block_delta|{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":", \"world\"\n"}}`,
		`content_block_stop|{"type":"content_block_stop","index":1}`,
		`content_block_start|{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_1","name":"weather","input":{}}}`,
		`content_block_delta|{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`,
		`content_block_delta|{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`,
		`content_block_stop|{"type":"content_block_stop","index":2}`,
		`message_delta|{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":7,"output_tokens":3}}`,
		`message_stop|{"type":"message_stop"}`,
	)
	temp := 0.5
	want := &stream.Request{Model: "m1", Thinking: true, ToolChoice: "required",
		Messages: []stream.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}, {Role: "assistant", Content: "yes?"}, {Role: "user", Content: "weather"}},
		Tools:    []stream.Tool{{Name: "weather", Parameters: json.RawMessage(`{"type":"object"}`)}},
		Sampling: stream.Sampling{MaxTokens: 100, Temperature: &temp, Stop: []string{"END"}}}
	if got := gw.Requests()[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("request\n got %+v\nwant %+v", got, want)
	}
}

func TestMessagesNotStreamed(t *testing.T) {
	ts := newTestServer(t, &dialecttest.Gateway{Events: script})
	resp := post(t, ts.URL+"/v1/messages", `{"model":"m1","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	want := `{"id":"msg_call_1","type":"message","role":"assistant","model":"m1","content":[{"type":"thinking","thinking":"Let me see."},{"type":"text","text":"Hello, \"world\"\n"},{"type":"tool_use","id":"call_1","name":"weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":3}}`
	if resp.StatusCode != 200 || string(b) != want {
		t.Errorf("got %d %s\nwant %s", resp.StatusCode, b, want)
	}
}

func TestToolTurns(t *testing.T) {
	gw := &dialecttest.Gateway{Events: []stream.Event{stream.Finished(stream.FinishStop)}}
	ts := newTestServer(t, gw)
	resp := post(t, ts.URL+"/v1/messages", `{"model":"m","max_tokens":10,"messages":[
		{"role":"user","content":"weather?"},
		{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"x"},{"type":"tool_use","id":"t1","name":"w","input":{"c":"Oslo"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"},{"type":"text","text":"and?"}]}]}`)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	want := []stream.Message{{Role: "user", Content: "weather?"},
		{Role: "assistant", Thinking: "hm", ToolCalls: []stream.ToolCall{{ID: "t1", Name: "w", Arguments: `{"c":"Oslo"}`}}},
		{Role: "tool", ToolCallID: "t1", Content: "sunny"}, {Role: "user", Content: "and?"}}
	if got := gw.Requests()[0].Messages; !reflect.DeepEqual(got, want) {
		t.Errorf("messages\n got %+v\nwant %+v", got, want)
	}
}

func TestErrors(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	cases := []struct {
		name, body string
		gwErr      error
		status     int
		typ, msg   string
	}{
		{"malformed", `{"model":`, nil, 400, "invalid_request_error", "invalid JSON: unexpected end of input"},
		{"no max_tokens", `{"model":"m",` + msgs + `}`, nil, 400, "invalid_request_error", "max_tokens: Field required"},
		{"wrong type", `{"model":"m","max_tokens":"ten",` + msgs + `}`, nil, 400, "invalid_request_error", "max_tokens must be an integer, not string"},
		{"bad content", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":5}]}`, nil, 400, "invalid_request_error", "invalid JSON: content must be a string or an array of content blocks"},
		{"no messages", `{"model":"m","max_tokens":5,"messages":[]}`, nil, 400, "invalid_request_error", "messages: at least one message is required"},
		{"system role", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, nil, 400, "invalid_request_error", "messages.0.role: Input should be 'user' or 'assistant'"},
		{"temperature", `{"model":"m","max_tokens":5,"temperature":1.5,` + msgs + `}`, nil, 400, "invalid_request_error", "temperature: range: 0..1"},
		{"empty stop", `{"model":"m","max_tokens":5,"stop_sequences":[" "],` + msgs + `}`, nil, 400, "invalid_request_error", "stop_sequences.0: each stop sequence must contain non-whitespace"},
		{"image", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0: image blocks are not supported"},
		{"second role", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"tool","content":"b"}]}`, nil, 400, "invalid_request_error", "messages.1.role: Input should be 'user' or 'assistant'"},
		{"user thinking", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"},{"type":"text","text":"d"},{"type":"thinking","thinking":"e"}]}]}`, nil, 400, "invalid_request_error", "messages.2.content.2: thinking blocks are only allowed in assistant turns"},
		{"user tool_use", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0: tool_use blocks are only allowed in assistant turns"},
		{"tool_use id", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"text","text":"b"},{"type":"tool_use","name":"f","input":{}}]}]}`, nil, 400, "invalid_request_error", "messages.1.content.1: tool_use blocks need an id and a name"},
		{"assistant tool_result", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0: tool_result blocks are only allowed in user turns"},
		{"tool_result id", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"tool_result","content":"x"}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.1.tool_use_id: Field required"},
		{"tool_result content", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{}}]}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0.content.0: only text blocks are allowed here, not \"image\""},
		{"block type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"text":"a"}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0.type: Field required"},
		{"unknown block", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0.type: unknown content block type \"video\""},
		{"budget", `{"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`, nil, 400, "invalid_request_error", "`max_tokens` must be greater than `thinking.budget_tokens`"},
		{"oversized", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, nil, 413, "request_too_large", "request body is larger than the limit of 4096 bytes"},
		{"unknown model", `{"model":"nope","max_tokens":5,` + msgs + `}`, stream.Errorf(stream.CodeNotFound, "model: nope"), 404, "not_found_error", "model: nope"},
		{"unauthorized", `{"model":"m","max_tokens":5,` + msgs + `}`, stream.Errorf(stream.CodeUnauthorized, "invalid x-api-key"), 401, "authentication_error", "invalid x-api-key"},
		{"rate limited", `{"model":"m","max_tokens":5,` + msgs + `}`, stream.Errorf(stream.CodeRateLimited, "slow down"), 429, "rate_limit_error", "slow down"},
		{"overloaded", `{"model":"m","max_tokens":5,"stream":true,` + msgs + `}`, stream.Errorf(stream.CodeOverloaded, "Overloaded"), 529, "overloaded_error", "Overloaded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, &dialecttest.Gateway{Err: c.gwErr, Events: script})
			resp := post(t, ts.URL+"/v1/messages", c.body)
			var er ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status || er.Type != "error" || er.Error.Type != c.typ || er.Error.Message != c.msg {
				t.Errorf("got %d %+v, want %d %s %q", resp.StatusCode, er, c.status, c.typ, c.msg)
			}
		})
	}
}

func TestMidStreamError(t *testing.T) {
	ev := dialecttest.Script(dialecttest.Text("part"), []stream.Event{
		stream.ErrorEvent(stream.Errorf(stream.CodeOverloaded, "upstream overloaded")), stream.Finished(stream.FinishError)})
	ts := newTestServer(t, &dialecttest.Gateway{Events: ev})
	resp := post(t, ts.URL+"/v1/messages", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	got := frames(t, resp.Body)
	if len(got) != 5 || got[4] != `error|{"type":"error","error":{"type":"overloaded_error","message":"upstream overloaded"}}` {
		t.Errorf("frames:\n%s", strings.Join(got, "\n"))
	}
}

func TestDisconnectCancels(t *testing.T) {
	p := dialecttest.NewBlocking(stream.Delta("first"))
	ts := newTestServer(t, &dialecttest.Gateway{Provider: p})
	resp := post(t, ts.URL+"/v1/messages", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	sr := newReader(resp.Body)
	for {
		ev, err := sr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(ev.Data, `"first"`) {
			break
		}
	}
	resp.Body.Close()
	<-p.Cancelled
}

// fakeAnthropic serves a recorded SSE answer byte for byte.
type fakeAnthropic struct {
	status int
	body   string
	got    map[string]any
	header http.Header
}

func (f *fakeAnthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.header = r.Header.Clone()
	f.got = nil
	json.NewDecoder(r.Body).Decode(&f.got)
	if f.status > 200 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	for _, frame := range strings.SplitAfter(f.body, "\n\n") {
		io.WriteString(w, frame)
		w.(http.Flusher).Flush()
	}
}

func TestProvider(t *testing.T) {
	f := &fakeAnthropic{body: dialecttest.Fixture(t, "stream_thinking_tool.sse")}
	ts := httptest.NewServer(f)
	defer ts.Close()
	p := NewProvider(Config{BaseURL: ts.URL, APIKey: "sk-test"})
	temp := 0.3
	s, err := p.Stream(context.Background(), &stream.Request{Model: "claude-sonnet-4-5", Thinking: true,
		Messages: []stream.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "weather?"},
			{Role: "assistant", ToolCalls: []stream.ToolCall{{ID: "t0", Name: "get_weather", Arguments: `{"location":"Oslo"}`}}},
			{Role: "tool", ToolCallID: "t0", Content: "rain"}},
		Tools:    []stream.Tool{{Name: "get_weather", Description: "weather"}},
		Sampling: stream.Sampling{MaxTokens: 200, Temperature: &temp}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := dialecttest.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []stream.Event{
		stream.ThinkingDelta("I need the weather"), stream.Delta("Okay, let's check"), stream.Delta(" the weather."),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather"}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `{"location":`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: ` "San Francisco, CA"}`}),
		stream.UsageEvent(stream.Usage{PromptTokens: 472, CompletionTokens: 89}),
		stream.Finished(stream.FinishToolCalls),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	if f.header.Get("X-Api-Key") != "sk-test" || f.header.Get("Anthropic-Version") != DefaultVersion {
		t.Errorf("headers %v", f.header)
	}
	var wantBody map[string]any
	json.Unmarshal([]byte(`{"model":"claude-sonnet-4-5","max_tokens":1224,"stream":true,"system":"sys",
		"thinking":{"type":"enabled","budget_tokens":1024},
		"messages":[{"role":"user","content":[{"type":"text","text":"weather?"}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"t0","name":"get_weather","input":{"location":"Oslo"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"t0","content":[{"type":"text","text":"rain"}]}]}],
		"tools":[{"name":"get_weather","description":"weather","input_schema":{"type":"object"}}]}`), &wantBody)
	if !reflect.DeepEqual(f.got, wantBody) {
		g, _ := json.Marshal(f.got)
		t.Errorf("upstream body\n got %s", g)
	}
}

// TestProviderBackpressureAndClose: the provider reads only as the caller
// pulls; Close (its stream has no context of its own) ends the upstream
// request, and a Recv waiting for the upstream when it closes returns
// context.Canceled.
func TestProviderBackpressureAndClose(t *testing.T) {
	srv := dialecttest.NewPulled("event: message_start\n"+`data: {"type":"message_start","message":{"usage":{"input_tokens":1}}}`+"\n\n",
		"event: content_block_delta\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"t"}}`+"\n\n", 5)
	defer srv.Close()
	s, err := NewProvider(Config{BaseURL: srv.URL}).Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if got := <-srv.Sent; got != i {
			t.Fatalf("sent %d, want %d", got, i)
		}
		if ev, err := s.Recv(); err != nil || ev.Text != "t" {
			t.Fatalf("Recv = %v, %v", ev, err)
		}
	}
	<-srv.Sent // the upstream holds the stream open, sending nothing
	errc := make(chan error)
	go func() {
		_, err := s.Recv()
		errc <- err
	}()
	s.Close() // before or during that Recv's wait: either way it ends
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("a Recv the Close ended: %v", err)
	}
	<-srv.Gone // the upstream handler saw its request end
}

// A completed stream leaves its connection in the pool even when the end
// of the chunked body comes only after the last event was read, after
// Close and the call's cancellation: Close hands it to a drain
// (dialect.Drain), whose request the cancellation no longer reaches.
func TestProviderReusesConnections(t *testing.T) {
	srv := dialecttest.NewHeldEnd(&fakeAnthropic{body: dialecttest.Fixture(t, "stream_stop_sequence.sse")})
	defer srv.Close()
	srv.ReusesConnections(t, NewProvider(Config{BaseURL: srv.URL, APIKey: "k"}), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}}, 3)
}

func TestProviderErrors(t *testing.T) {
	ts := httptest.NewServer(&fakeAnthropic{body: dialecttest.Fixture(t, "stream_error.sse")})
	defer ts.Close()
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "hi", RawPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := dialecttest.ReadAll(s)
	want := []stream.Event{stream.Delta("Hello"), stream.Delta("!"),
		stream.ErrorEvent(stream.Errorf(stream.CodeOverloaded, "anthropic: Overloaded")), stream.Finished(stream.FinishError)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("events %v (%v)\nwant %v", got, err, want)
	}

	for _, c := range []struct {
		status int
		body   string
		code   stream.Code
		msg    string
	}{
		{401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, stream.CodeUnauthorized, "anthropic: invalid x-api-key"},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, stream.CodeOverloaded, "anthropic: Overloaded"},
		{404, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}`, stream.CodeNotFound, "anthropic: model: claude-x"},
	} {
		ts := httptest.NewServer(&fakeAnthropic{status: c.status, body: c.body})
		_, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "hi"})
		ts.Close()
		var e *stream.Error
		if !errors.As(err, &e) || e.Code != c.code || e.Message != c.msg || e.UpstreamStatus != c.status {
			t.Errorf("%d: got %v", c.status, err)
		}
	}

	// A stream cut before message_stop is an error, not a silent end.
	full := dialecttest.Fixture(t, "stream_thinking_tool.sse")
	ts2 := httptest.NewServer(&fakeAnthropic{body: full[:strings.Index(full, "event: message_delta")]})
	defer ts2.Close()
	s, _ = NewProvider(Config{BaseURL: ts2.URL}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "hi"})
	if _, err := dialecttest.ReadAll(s); err == nil || err.Error() != "upstream_error: anthropic: stream ended before message_stop" {
		t.Errorf("truncated stream: %v", err)
	}
}

// Anthropic has no JSON mode the provider maps: it refuses rather than
// send a request that would drop the format, and never calls the upstream.
func TestProviderRefusesResponseFormat(t *testing.T) {
	f := &fakeAnthropic{body: dialecttest.Fixture(t, "stream_error.sse")}
	ts := httptest.NewServer(f)
	defer ts.Close()
	p := NewProvider(Config{BaseURL: ts.URL})
	_, err := p.Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}},
		ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "p", Schema: json.RawMessage(`{}`)}})
	var e *stream.Error
	if !errors.As(err, &e) || e.Code != stream.CodeInvalidRequest || e.Param != "response_format" ||
		e.Message != "response_format json_schema is not supported by provider anthropic: it cannot constrain its output to JSON" {
		t.Fatalf("err = %v", err)
	}
	if f.header != nil {
		t.Fatal("the upstream was called")
	}
	if p.CanFormat("m", stream.FormatJSONObject) || !p.CanFormat("m", stream.FormatText) {
		t.Fatal("CanFormat: want text only")
	}
}

// TestRoundTrip runs the provider against Runnel's own Messages server.
func TestRoundTrip(t *testing.T) {
	in := []stream.Event{
		stream.ThinkingDelta("hmm"), stream.Delta("Hé"), stream.Delta("llo \u2028 <b>"),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "c1", Name: "f"}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `{"a":[1,`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `2]}`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 1, ID: "c2", Name: "g"}),
		stream.UsageEvent(stream.Usage{PromptTokens: 5, CompletionTokens: 4}),
		stream.Finished(stream.FinishToolCalls),
	}
	ts := newTestServer(t, &dialecttest.Gateway{Events: in})
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dialecttest.ReadAll(s); err != nil || !reflect.DeepEqual(got, in) {
		t.Errorf("round trip (%v)\n got %v\nwant %v", err, got, in)
	}
}

// FuzzMessagesRequest: any body gets a 2xx or a 4xx in Anthropic's shape.
func FuzzMessagesRequest(f *testing.F) {
	f.Add(`{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"s"}],"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":null}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":"r"}]}]}]}`)
	f.Add(`{"model":"m","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":5},"tool_choice":{"type":"tool"},"messages":[{"role":"user","content":[]}]}`)
	gw := &dialecttest.Gateway{Events: script}
	mux := http.NewServeMux()
	NewServer(gw, Options{BodyLimit: 4096}).Register(mux)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code >= 400 {
			var er ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Type != "error" || er.Error.Message == "" {
				t.Fatalf("error body %q: %v", rec.Body, err)
			}
		}
	})
}

// FuzzDecoder: the stream decoder never panics on any event.
func FuzzDecoder(f *testing.F) {
	f.Add("message_start", `{"type":"message_start","message":{"usage":{"input_tokens":3}}}`)
	f.Add("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"x","name":"f","input":{"a":1}}}`)
	f.Add("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}`)
	f.Add("error", `{"type":"error","error":{"type":"api_error","message":"x"}}`)
	f.Fuzz(func(t *testing.T, name, data string) {
		var d Decoder
		d.Decode("content_block_start", []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"x","name":"f"}}`))
		evs, err := d.Decode(name, []byte(data))
		if err != nil {
			var e *stream.Error
			if !errors.As(err, &e) || e.Code != stream.CodeUpstream {
				t.Fatalf("error %v", err)
			}
		}
		for i, ev := range evs {
			if ev.Kind == stream.KindFinish && i != len(evs)-1 {
				t.Fatal("finish not last")
			}
		}
	})
}

func TestKeepAlive(t *testing.T) {
	p := dialecttest.NewBlocking(stream.Delta("first"))
	ts := dialecttest.Serve(t, NewServer(&dialecttest.Gateway{Provider: p}, Options{KeepAlive: time.Millisecond}).Register)
	resp := post(t, ts.URL+"/v1/messages", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && sc.Text() != ": keep-alive" {
	}
	if sc.Text() != ": keep-alive" {
		t.Fatalf("no keep-alive: %v", sc.Err())
	}
	resp.Body.Close()
	<-p.Cancelled
}

// TestEventsReleaseTheReaderAtTheFinish: once the upstream's events
// finish the stream, the SSE reader has given its buffer back (it reads
// no more: what follows in the body is the drain's), rather than holding
// it to the collector.
func TestEventsReleaseTheReaderAtTheFinish(t *testing.T) {
	body := "event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}` + "\n\n" +
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n" +
		"event: ping\ndata: {\"type\": \"ping\"}\n\n" // after the end: not the stream's
	e := new(events)
	e.r = newReader(strings.NewReader(body))
	var text string
	for done := false; !done; {
		evs, err := e.ReadEvents()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			text += ev.Text
			done = done || ev.Kind == stream.KindFinish
		}
	}
	if text != "hi" {
		t.Errorf("text %q", text)
	}
	if ev, err := e.r.NextRaw(); err != io.EOF {
		t.Errorf("after the finish the reader read %q, %v; want it released (io.EOF)", ev.Event, err)
	}
}

// TestNotifiesBeforeWait: the provider claims stream.WaitNotifier; its
// stream calls the BeforeWait function before the read that waits for
// the events after the first text delta.
func TestNotifiesBeforeWait(t *testing.T) {
	events := strings.SplitAfter(dialecttest.Fixture(t, "stream_stop_sequence.sse"), "\n\n")
	got := dialecttest.NotifiesBeforeWait(t, strings.Join(events[:3], ""), strings.Join(events[3:], ""),
		func(url string) stream.Provider { return NewProvider(Config{BaseURL: url}) },
		&stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "count"}}})
	if len(got) == 0 || got[len(got)-1].Kind != stream.KindFinish {
		t.Fatalf("rest %v", got)
	}
}
