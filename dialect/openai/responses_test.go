package openai

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// responseEvents parses a /v1/responses stream and checks what every
// client relies on: each event's event: line names its data's type, and
// sequence_number counts up from 0.
func responseEvents(t testing.TB, evs []sse.Event) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, ev := range evs {
		var m map[string]any
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatalf("event %d %q: %v", i, ev.Data, err)
		}
		if m["type"] != ev.Event {
			t.Errorf("event %d: event: %q but type %q", i, ev.Event, m["type"])
		}
		if n, ok := m["sequence_number"].(float64); !ok || int(n) != i {
			t.Errorf("event %d (%s): sequence_number %v", i, ev.Event, m["sequence_number"])
		}
		out = append(out, m)
	}
	return out
}

// postEvents posts body to srv's /v1/responses and reads the stream.
func postEvents(t testing.TB, url, body string) (*http.Response, []sse.Event) {
	t.Helper()
	resp, err := http.Post(url+"/v1/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, dialecttest.ReadEvents(t, resp.Body)
}

// golden compares got with testdata/name; RUNNEL_GOLDEN=1 writes it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if os.Getenv("RUNNEL_GOLDEN") == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("stream differs from %s:\n%s", path, got)
	}
}

// The whole event sequence of a stream with reasoning, text and two
// function calls whose fragments interleave: items open as the content's
// kind changes, each closes with its done events, and response.completed
// carries the whole output and the usage.
func TestResponsesStreamGolden(t *testing.T) {
	usage := stream.Usage{PromptTokens: 5, CompletionTokens: 7, ReasoningTokens: 2}
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.ThinkingDelta("hmm"), stream.ThinkingDelta(" ok"),
		stream.Delta("Hel"), stream.Delta("lo \"\n"),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "call_1", Name: "get", Arguments: `{"a"`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 1, ID: "call_2", Name: "put"}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, Arguments: `:1}`}),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 1, Arguments: `{}`}),
		stream.UsageEvent(usage), stream.Finished(stream.FinishToolCalls),
	)})
	resp, body := post(t, srv.URL+"/v1/responses", `{"model":"m","input":"hi","stream":true,"tools":[{"type":"function",`+"\n\t\t"+`"name":"get"},{"type":"function","name":"put"}]}`) // echoed compact, on one data line
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	body = stripIDs(t, body)
	golden(t, "responses_stream.sse", body)
	evs := responseEvents(t, dialecttest.ReadEvents(t, strings.NewReader(body)))
	last := evs[len(evs)-1]
	if last["type"] != "response.completed" {
		t.Fatalf("last event %v", last["type"])
	}
	var r Response
	b, _ := json.Marshal(last["response"])
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	want := []OutputItem{
		{ID: "rs_abc123_0", Type: "reasoning", Content: []ContentItem{{Type: "reasoning_text", Text: "hmm ok"}}},
		{ID: "msg_abc123_1", Type: "message", Status: "completed", Role: "assistant", Content: []ContentItem{{Type: "output_text", Text: "Hello \"\n"}}},
		{ID: "fc_abc123_2", Type: "function_call", Status: "completed", CallID: "call_1", Name: "get", Arguments: `{"a":1}`},
		{ID: "fc_abc123_3", Type: "function_call", Status: "completed", CallID: "call_2", Name: "put", Arguments: `{}`},
	}
	got, _ := json.Marshal(r.Output)
	if w, _ := json.Marshal(want); string(got) != string(w) {
		t.Errorf("output %s\nwant %s", got, w)
	}
	if u := r.Usage; u == nil || *u != (ResponseUsage{InputTokens: 5, OutputTokens: 7, TotalTokens: 12, OutputTokensDetails: OutputTokensDetails{ReasoningTokens: 2}}) {
		t.Errorf("usage %+v", r.Usage)
	}
	if r.Status != "completed" || r.ID != "resp_abc123" || r.CreatedAt != 1700000000 || !r.Store {
		t.Errorf("response %+v", r)
	}
}

// reasoning.summary asks for thinking as a summary, the form the AI SDK
// shows: reasoning_summary_part and reasoning_summary_text events.
func TestResponsesStreamReasoningSummary(t *testing.T) {
	srv, gw := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.ThinkingDelta("a"), stream.ThinkingDelta("b"), stream.Delta("c"), stream.Finished(stream.FinishStop),
	)})
	_, raw := postEvents(t, srv.URL, `{"model":"m","input":"hi","stream":true,"reasoning":{"effort":"low","summary":"auto"}}`)
	evs := responseEvents(t, raw)
	var types []string
	for _, e := range evs {
		types = append(types, e["type"].(string))
	}
	want := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added",
		"response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("events\n%q\nwant\n%q", types, want)
	}
	if d := evs[4]; d["delta"] != "a" || d["summary_index"] != 0.0 || d["item_id"] != "rs_abc123_0" {
		t.Errorf("summary delta %v", d)
	}
	done, _ := json.Marshal(evs[8]["item"])
	if string(done) != `{"id":"rs_abc123_0","summary":[{"text":"ab","type":"summary_text"}],"type":"reasoning"}` {
		t.Errorf("reasoning item %s", done)
	}
	if !gw.last.Thinking {
		t.Error("reasoning.effort low did not ask for thinking")
	}
	reasoning, _ := json.Marshal(evs[0]["response"].(map[string]any)["reasoning"])
	if string(reasoning) != `{"effort":"low","summary":"auto"}` {
		t.Errorf("reasoning echoed as %s", reasoning)
	}
}

// A stream cut by max_output_tokens ends with response.incomplete, its
// open item incomplete too.
func TestResponsesStreamIncomplete(t *testing.T) {
	srv, gw := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.Delta("a"), stream.UsageEvent(stream.Usage{PromptTokens: 1, CompletionTokens: 1}), stream.Finished(stream.FinishLength),
	)})
	_, raw := postEvents(t, srv.URL, `{"model":"m","input":"hi","stream":true,"max_output_tokens":1}`)
	evs := responseEvents(t, raw)
	last := evs[len(evs)-1]
	r := last["response"].(map[string]any)
	if last["type"] != "response.incomplete" || r["status"] != "incomplete" ||
		r["incomplete_details"].(map[string]any)["reason"] != "max_output_tokens" || r["max_output_tokens"] != 1.0 {
		t.Fatalf("last event %v", last)
	}
	if item := evs[len(evs)-2]["item"].(map[string]any); item["status"] != "incomplete" {
		t.Errorf("item %v", item)
	}
	if gw.last.Sampling.MaxTokens != 1 {
		t.Errorf("max tokens %d", gw.last.Sampling.MaxTokens)
	}
}

// An upstream fault mid-stream: an error event in OpenAI's shape, then
// response.failed with the output so far.
func TestResponsesStreamMidStreamError(t *testing.T) {
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.Delta("a"),
		stream.ErrorEvent(&stream.Error{Code: stream.CodeUpstream, Message: "upstream closed the stream before it finished"}),
		stream.Finished(stream.FinishError),
	)})
	_, raw := postEvents(t, srv.URL, `{"model":"m","input":"hi","stream":true}`)
	evs := responseEvents(t, raw)
	n := len(evs)
	if n < 2 {
		t.Fatalf("%d events", n)
	}
	if got, _ := json.Marshal(evs[n-2]); string(got) != `{"code":"upstream_error","message":"upstream closed the stream before it finished","param":null,"sequence_number":5,"type":"error"}` {
		t.Errorf("error event %s", got)
	}
	r := evs[n-1]["response"].(map[string]any)
	if evs[n-1]["type"] != "response.failed" || r["status"] != "failed" ||
		r["error"].(map[string]any)["code"] != "upstream_error" || len(r["output"].([]any)) != 1 {
		t.Errorf("last event %v", evs[n-1])
	}
}

// A resumable stream's replica died: the stream ends with an error event
// numbered after the events logged.
func TestResponsesInterruptedError(t *testing.T) {
	rec := httptest.NewRecorder()
	out := sse.NewWriter(rec, sse.Options{LastID: 9, KeepAlive: -1})
	writeResponseStreamError(out, dialect.ErrInterrupted)
	out.Close()
	evs := dialecttest.ReadEvents(t, rec.Body)
	var e map[string]any
	if len(evs) != 1 || evs[0].Event != "error" || json.Unmarshal([]byte(evs[0].Data), &e) != nil || e["sequence_number"] != 9.0 || e["code"] != "upstream_error" {
		t.Fatalf("events %+v", evs)
	}
}

func TestResponsesNonStreamed(t *testing.T) {
	srv, gw := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		stream.ThinkingDelta("think"), stream.Delta("Hello"), stream.Delta(" world"),
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "call_9", Name: "get", Arguments: `{}`}),
		stream.UsageEvent(stream.Usage{PromptTokens: 4, CompletionTokens: 2}), stream.Finished(stream.FinishToolCalls),
	)})
	resp, body := post(t, srv.URL+"/v1/responses", `{"model":"m","instructions":"be brief","store":true,
		"input":[{"role":"developer","content":"dev"},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"hi "},{"type":"input_text","text":"there"}]},
			{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"earlier"}]},
			{"type":"message","role":"assistant","content":[{"type":"output_text","text":"let me look"}]},
			{"type":"function_call","call_id":"c1","name":"get","arguments":"{\"q\":1}"},
			{"type":"function_call_output","call_id":"c1","output":"42"},
			{"role":"user","content":"thanks"}],
		"tools":[{"type":"function","name":"get","description":"gets","parameters":{"type":"object"},"strict":true}],
		"tool_choice":{"type":"function","name":"get"},"max_output_tokens":7,"temperature":0.5,"top_p":0.9,
		"metadata":{"k":"v"},"user":"u1","reasoning":{"effort":"none"},
		"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true}}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	want := `{"id":"resp_abc123","object":"response","created_at":1700000000,"status":"completed","error":null,"incomplete_details":null,"output":[` +
		`{"id":"rs_abc123_0","type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"think"}]},` +
		`{"id":"msg_abc123_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello world","annotations":[],"logprobs":[]}]},` +
		`{"id":"fc_abc123_2","type":"function_call","status":"completed","call_id":"call_9","name":"get","arguments":"{}"}],` +
		`"usage":{"input_tokens":4,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":6},` +
		`"instructions":"be brief","max_output_tokens":7,"model":"m","parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":"none","summary":null},"store":true,"temperature":0.5,` +
		`"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true}},"tool_choice":{"type":"function","name":"get"},` +
		`"tools":[{"type":"function","name":"get","description":"gets","parameters":{"type":"object"},"strict":true}],"top_p":0.9,"truncation":"disabled",` +
		`"user":"u1","metadata":{"k":"v"}}` + "\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	r := gw.last
	wantMsgs := []stream.Message{
		{Role: "system", Content: "be brief"},
		{Role: "system", Content: "dev"},
		{Role: "user", Content: "hi there"},
		{Role: "assistant", Content: "let me look", Thinking: "earlier", ToolCalls: []stream.ToolCall{{ID: "c1", Name: "get", Arguments: `{"q":1}`}}},
		{Role: "tool", ToolCallID: "c1", Content: "42"},
		{Role: "user", Content: "thanks"},
	}
	if !reflect.DeepEqual(r.Messages, wantMsgs) {
		t.Errorf("messages %+v\nwant %+v", r.Messages, wantMsgs)
	}
	if r.Sampling.MaxTokens != 7 || *r.Sampling.Temperature != 0.5 || *r.Sampling.TopP != 0.9 || r.Thinking ||
		r.ToolChoice != "get" || len(r.Tools) != 1 || string(r.Tools[0].Parameters) != `{"type":"object"}` || r.Tools[0].Description != "gets" ||
		r.ResponseFormat == nil || r.ResponseFormat.Type != stream.FormatJSONSchema || r.ResponseFormat.Name != "out" ||
		string(r.ResponseFormat.Schema) != `{"type":"object"}` || !*r.ResponseFormat.Strict ||
		!reflect.DeepEqual(r.Metadata, map[string]string{"k": "v", "user": "u1"}) {
		t.Errorf("request %+v", r)
	}
}

// A function call with no assistant text before it starts an assistant
// turn of its own; its reasoning goes with it.
func TestResponsesFunctionCallTurn(t *testing.T) {
	srv, gw := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(stream.Delta("ok"), stream.Finished(stream.FinishStop))})
	resp, body := post(t, srv.URL+"/v1/responses", `{"model":"m","input":[{"role":"user","content":"hi"},
		{"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"r"}]},
		{"type":"function_call","call_id":"a","name":"f","arguments":"{}"},{"type":"function_call","call_id":"b","name":"g","arguments":"{}"},
		{"type":"function_call_output","call_id":"a","output":[{"type":"input_text","text":"1"}]},{"type":"function_call_output","call_id":"b","output":"2"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	want := []stream.Message{
		{Role: "user", Content: "hi"},
		{Role: "assistant", Thinking: "r", ToolCalls: []stream.ToolCall{{ID: "a", Name: "f", Arguments: "{}"}, {ID: "b", Name: "g", Arguments: "{}"}}},
		{Role: "tool", ToolCallID: "a", Content: "1"},
		{Role: "tool", ToolCallID: "b", Content: "2"},
	}
	if !reflect.DeepEqual(gw.last.Messages, want) {
		t.Errorf("messages %+v\nwant %+v", gw.last.Messages, want)
	}
}

// Bad input is a 400 in OpenAI's error shape naming the field; features
// Runnel does not have are refused by name.
func TestResponsesBadInput(t *testing.T) {
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(stream.Delta("x"), stream.Finished(stream.FinishStop))})
	for _, c := range []struct{ body, param string }{
		{`{"input":"hi"}`, "model"},
		{`{"model":"m"}`, "input"},
		{`{"model":"m","input":[]}`, "input"},
		{`{"model":"m","input":3}`, "input"},
		{`{"model":"m","input":[3]}`, "input[0]"},
		{`{"model":"m","input":[{"role":"robot","content":"x"}]}`, "input[0].role"},
		{`{"model":"m","input":[{"role":"user"}]}`, "input[0].content"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}`, "input[0].content[0].type"},
		{`{"model":"m","input":[{"role":"user","content":{"a":1}}]}`, "input[0].content"},
		{`{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]}`, "input[0].name"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f"}]}`, "input[0].arguments"},
		{`{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id"},
		{`{"model":"m","input":[{"type":"function_call_output","call_id":"c"}]}`, "input[0].output"},
		{`{"model":"m","input":[{"type":"web_search_call","id":"w"}]}`, "input[0].type"},
		{`{"model":"m","input":[{"role":"user","content":"x"},{"type":"item_reference"}]}`, "input[1].id"},
		{`{"model":"m","input":"hi","background":true}`, "background"},
		{`{"model":"m","input":"hi","conversation":"conv_1"}`, "conversation"},
		{`{"model":"m","input":"hi","prompt":{"id":"pmpt_1"}}`, "prompt"},
		{`{"model":"m","input":"hi","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{`{"model":"m","input":"hi","tools":[{"type":"file_search","vector_store_ids":["v"]}]}`, "tools[0].type"},
		{`{"model":"m","input":"hi","tools":[{"type":"function"}]}`, "tools[0].name"},
		{`{"model":"m","input":"hi","tools":[{"type":"function","name":"f","parameters":[]}]}`, "tools[0].parameters"},
		{`{"model":"m","input":"hi","tool_choice":"sometimes"}`, "tool_choice"},
		{`{"model":"m","input":"hi","tool_choice":{"type":"web_search_preview"}}`, "tool_choice.type"},
		{`{"model":"m","input":"hi","tool_choice":{"type":"function"}}`, "tool_choice.name"},
		{`{"model":"m","input":"hi","max_output_tokens":0}`, "max_output_tokens"},
		{`{"model":"m","input":"hi","temperature":3}`, "temperature"},
		{`{"model":"m","input":"hi","top_p":-1}`, "top_p"},
		{`{"model":"m","input":"hi","reasoning":{"effort":"extreme"}}`, "reasoning.effort"},
		{`{"model":"m","input":"hi","reasoning":{"summary":"long"}}`, "reasoning.summary"},
		{`{"model":"m","input":"hi","text":{"format":{"type":"xml"}}}`, "text.format.type"},
		{`{"model":"m","input":"hi","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name"},
		{`{"model":"m","input":"hi","text":{"format":{"type":"json_schema","name":"x","schema":[]}}}`, "text.format.schema"},
		{`{"model":"m","input":"hi","include":["file_search_call.results"]}`, "include"},
		{`{"model":"m","input":"hi","truncation":"auto"}`, "truncation"},
		{`{"model":"m","input":"hi","top_logprobs":2}`, "top_logprobs"},
		{`{"model":"m","input":"hi","max_output_tokens":"many"}`, "max_output_tokens"},
		{`{"model":"m","input":"hi","timeout_ms":-1}`, "timeout_ms"},
	} {
		resp, body := post(t, srv.URL+"/v1/responses", c.body)
		var er ErrorResponse
		if resp.StatusCode != 400 || json.Unmarshal([]byte(body), &er) != nil || er.Error.Param == nil || *er.Error.Param != c.param ||
			er.Error.Type != "invalid_request_error" || er.Error.Message == "" {
			t.Errorf("%s: %d %s, want a 400 naming %s", c.body, resp.StatusCode, body, c.param)
		}
	}
	resp, body := post(t, srv.URL+"/v1/responses", `{"model":"nope","input":"hi"}`)
	if resp.StatusCode != 404 || !strings.Contains(body, `"param":"model"`) {
		t.Errorf("unknown model: %d %s", resp.StatusCode, body)
	}
}

// A format the provider cannot honour is refused naming text.format, this
// API's field.
func TestResponsesFormatRefused(t *testing.T) {
	f := &stream.ResponseFormat{Type: stream.FormatJSONObject}
	srv, _ := newTestServer(t, map[string]stream.Provider{"m": errProvider(stream.FormatUnsupported("engine", f))})
	resp, body := post(t, srv.URL+"/v1/responses", `{"model":"m","input":"hi","stream":true,"text":{"format":{"type":"json_object"}}}`)
	if resp.StatusCode != 400 || !strings.Contains(body, `"param":"text.format"`) || !strings.Contains(body, `"message":"text.format json_object is not supported by provider engine`) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

// responsesText joins a stream's output text and counts its terminal
// events (response.completed), for the resumption check.
func responsesText(t testing.TB, evs []sse.Event) (string, int) {
	var sb strings.Builder
	ends := 0
	for _, e := range responseEvents(t, evs) {
		switch e["type"] {
		case "response.output_text.delta":
			sb.WriteString(e["delta"].(string))
		case "response.completed":
			ends++
		}
	}
	return sb.String(), ends
}

func TestResponsesResume(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	ts := dialecttest.Serve(t, NewServer(gw, Options{}).Register)
	dialecttest.CheckResume(t, dialecttest.ResumeCase{URL: ts.URL + "/v1/responses", Cut: 6, Text: responsesText,
		Body: `{"model":"mock/default?tokens=40&itl=2ms&think=3","stream":true,"input":"hi"}`})
}

func TestResponsesResumeCancellation(t *testing.T) {
	dialecttest.CheckResumeCancellation(t, "/v1/responses", `{"model":"m","stream":true,"input":"hi"}`,
		func(gw *dialecttest.Gateway, r *dialect.Resumer) *httptest.Server {
			return dialecttest.Serve(t, NewServer(gw, Options{Resume: r}).Register)
		},
		func(b []byte, id string) bool {
			var er ErrorResponse
			return json.Unmarshal(b, &er) == nil && strings.Contains(er.Error.Message, id)
		})
}

// FuzzResponsesRequest: any body gets a 2xx or a 4xx in OpenAI's shape,
// streamed or not.
func FuzzResponsesRequest(f *testing.F) {
	f.Add(`{"model":"m","input":"hi","stream":true}`)
	f.Add(`{"model":"m","instructions":"s","input":[{"role":"user","content":[{"type":"input_text","text":"a"}]},{"type":"reasoning","summary":[{"type":"summary_text","text":"r"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"x"}]}`)
	f.Add(`{"model":"m","input":"hi","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"f"},"text":{"format":{"type":"json_schema","name":"n","schema":{}}},"reasoning":{"effort":"high","summary":"auto"},"max_output_tokens":5}`)
	f.Add(`{"model":"m","input":[{"type":"item_reference","id":"x"}],"previous_response_id":"r","store":true}`)
	gw := &dialecttest.Gateway{Events: dialecttest.Script(dialecttest.Text("a", "b"), []stream.Event{
		stream.ThinkingDelta("t"), dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "c", Name: "f", Arguments: "{}"}),
	})}
	mux := http.NewServeMux()
	NewServer(gw, Options{BodyLimit: 4096}).Register(mux)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/responses", strings.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code >= 400 {
			var er ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error.Type == "" || er.Error.Message == "" {
				t.Fatalf("error body %q: %v", rec.Body, err)
			}
		}
	})
}
