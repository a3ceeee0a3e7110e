package openai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/stream"
)

type ownerKey struct{}

// storeServer serves a dialecttest gateway (call ids call_1, call_2…)
// whose callers are named by the X-Owner header, as the auth layer would
// name them.
func storeServer(t *testing.T, events ...stream.Event) (*httptest.Server, *dialecttest.Gateway) {
	t.Helper()
	gw := &dialecttest.Gateway{Events: events}
	res := dialect.NewResumer(resume.Options{}, func(ctx context.Context) string {
		s, _ := ctx.Value(ownerKey{}).(string)
		return s
	})
	mux := http.NewServeMux()
	NewServer(gw, Options{Resume: res}).Register(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ownerKey{}, r.Header.Get("X-Owner"))))
	}))
	t.Cleanup(srv.Close)
	return srv, gw
}

// call sends method path (with body, if any) as owner.
func call(t *testing.T, srv *httptest.Server, method, path, owner, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("X-Owner", owner)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A chain: the second call's context is the first's input and output,
// then its own input, under its own instructions only; the stored
// responses are read back, their input items listed, and references
// resolve to stored items.
func TestResponsesStoreChain(t *testing.T) {
	srv, gw := storeServer(t, stream.Delta("Hi"), dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "c1", Name: "f", Arguments: "{}"}),
		stream.UsageEvent(stream.Usage{PromptTokens: 3, CompletionTokens: 2}), stream.Finished(stream.FinishToolCalls))
	code, body := call(t, srv, "POST", "/v1/responses", "team:a:k", `{"model":"m","instructions":"first","input":"hello"}`)
	var r1 Response
	if code != 200 || json.Unmarshal([]byte(body), &r1) != nil || r1.ID != "resp_call_1" || !r1.Store {
		t.Fatalf("turn 1: %d %s", code, body)
	}
	code, body = call(t, srv, "POST", "/v1/responses", "team:a:k", `{"model":"m","instructions":"second","previous_response_id":"resp_call_1","stream":true,
		"input":[{"type":"function_call_output","call_id":"c1","output":"42"},{"role":"user","content":"again"}]}`)
	if code != 200 {
		t.Fatalf("turn 2: %d %s", code, body)
	}
	evs := responseEvents(t, dialecttest.ReadEvents(t, strings.NewReader(body)))
	last := evs[len(evs)-1]
	if last["type"] != "response.completed" {
		t.Fatalf("turn 2 ended with %v", last["type"])
	}
	completed, _ := json.Marshal(last["response"])
	want := []stream.Message{
		{Role: "system", Content: "second"},
		{Role: "user", Content: "hello"},
		{Role: "assistant", Content: "Hi", ToolCalls: []stream.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}}},
		{Role: "tool", ToolCallID: "c1", Content: "42"},
		{Role: "user", Content: "again"},
	}
	if got := gw.Requests()[1].Messages; !reflect.DeepEqual(got, want) {
		t.Errorf("turn 2's messages %+v\nwant %+v", got, want)
	}
	if r := last["response"].(map[string]any); r["previous_response_id"] != "resp_call_1" || r["store"] != true || r["instructions"] != "second" {
		t.Errorf("turn 2's response %v", r)
	}

	// GET answers the Response object the stream ended with.
	code, body = call(t, srv, "GET", "/v1/responses/resp_call_2", "team:a:k", "")
	var a, b any
	json.Unmarshal([]byte(body), &a)
	json.Unmarshal(completed, &b)
	if code != 200 || !reflect.DeepEqual(a, b) {
		t.Errorf("GET: %d %s\nwant %s", code, body, completed)
	}

	// Its input items as resolved, newest first by default.
	code, body = call(t, srv, "GET", "/v1/responses/resp_call_2/input_items", "team:a:k", "")
	wantItems := `{"object":"list","data":[` +
		`{"content":[{"type":"input_text","text":"again"}],"id":"msg_2_in4","role":"user","status":"completed","type":"message"},` +
		`{"call_id":"c1","id":"fco_2_in3","output":"42","type":"function_call_output"},` +
		`{"arguments":"{}","call_id":"c1","id":"fc_1_1","name":"f","status":"completed","type":"function_call"},` +
		`{"content":[{"type":"output_text","text":"Hi","annotations":[],"logprobs":[]}],"id":"msg_1_0","role":"assistant","status":"completed","type":"message"},` +
		`{"content":[{"type":"input_text","text":"hello"}],"id":"msg_1_in0","role":"user","status":"completed","type":"message"}],` +
		`"first_id":"msg_2_in4","last_id":"msg_1_in0","has_more":false}` + "\n"
	if code != 200 || body != wantItems {
		t.Errorf("input_items: %d\n%s\nwant\n%s", code, body, wantItems)
	}
	code, body = call(t, srv, "GET", "/v1/responses/resp_call_2/input_items?order=asc&limit=2&after=msg_1_in0", "team:a:k", "")
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
		FirstID, LastID string
		HasMore         bool `json:"has_more"`
	}
	if json.Unmarshal([]byte(body), &page) != nil || len(page.Data) != 2 || page.Data[0].ID != "msg_1_0" || page.Data[1].ID != "fc_1_1" || !page.HasMore {
		t.Errorf("a page: %d %s", code, body)
	}
	if code, body := call(t, srv, "GET", "/v1/responses/resp_call_2?stream=true", "team:a:k", ""); code != 400 || !strings.Contains(body, `"param":"stream"`) {
		t.Errorf("GET ?stream=true: %d %s", code, body)
	}
	for _, q := range []string{"limit=0", "limit=101", "order=up", "after=nope"} {
		if code, body := call(t, srv, "GET", "/v1/responses/resp_call_2/input_items?"+q, "team:a:k", ""); code != 400 || !strings.Contains(body, `"param":"`+strings.Split(q, "=")[0]+`"`) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}

	// References resolve to stored items by id, with no previous
	// response: an output item of turn 1 and an input item of turn 2.
	code, body = call(t, srv, "POST", "/v1/responses", "team:a:k", `{"model":"m","store":false,"input":[{"type":"item_reference","id":"msg_1_0"},{"type":"item_reference","id":"msg_2_in4"}]}`)
	want = []stream.Message{{Role: "assistant", Content: "Hi"}, {Role: "user", Content: "again"}}
	if got := gw.Requests()[2].Messages; code != 200 || !reflect.DeepEqual(got, want) {
		t.Errorf("references: %d %s: messages %+v, want %+v", code, body, got, want)
	}
	if !strings.Contains(body, `"store":false`) {
		t.Errorf("store false answered %s", body)
	}
	if code, _ := call(t, srv, "GET", "/v1/responses/resp_call_3", "team:a:k", ""); code != 404 {
		t.Errorf("a response made with store: false was kept: %d", code)
	}

	// DELETE, then it is gone.
	code, body = call(t, srv, "DELETE", "/v1/responses/resp_call_1", "team:a:k", "")
	if code != 200 || body != `{"id":"resp_call_1","object":"response","deleted":true}`+"\n" {
		t.Errorf("DELETE: %d %s", code, body)
	}
	for _, c := range []struct{ method, path, body, param string }{
		{"GET", "/v1/responses/resp_call_1", "", ""},
		{"DELETE", "/v1/responses/resp_call_1", "", ""},
		{"POST", "/v1/responses", `{"model":"m","input":"x","previous_response_id":"resp_call_1"}`, "previous_response_id"},
	} {
		if code, body := call(t, srv, c.method, c.path, "team:a:k", c.body); code != 404 || !strings.Contains(body, "resp_call_1") || (c.param != "" && !strings.Contains(body, `"param":"`+c.param+`"`)) {
			t.Errorf("%s %s after the delete: %d %s", c.method, c.path, code, body)
		}
	}
}

// Another caller's responses are not found, by any route: never another
// tenant's data. Unknown ids are 404s naming the id and the field.
func TestResponsesStoreOwners(t *testing.T) {
	srv, gw := storeServer(t, stream.Delta("secret"), stream.Finished(stream.FinishStop))
	if code, body := call(t, srv, "POST", "/v1/responses", "team:a:k", `{"model":"m","input":"mine"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	for _, c := range []struct{ method, path, body, param, id string }{
		{"GET", "/v1/responses/resp_call_1", "", "", "resp_call_1"},
		{"GET", "/v1/responses/resp_call_1/input_items", "", "", "resp_call_1"},
		{"DELETE", "/v1/responses/resp_call_1", "", "", "resp_call_1"},
		{"POST", "/v1/responses", `{"model":"m","input":"x","previous_response_id":"resp_call_1"}`, "previous_response_id", "resp_call_1"},
		{"POST", "/v1/responses", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"item_reference","id":"msg_1_0"}]}`, "input[1].id", "msg_1_0"},
		{"POST", "/v1/responses", `{"model":"m","input":[{"type":"item_reference","id":"msg_1_in0"}],"stream":true}`, "input[0].id", "msg_1_in0"},
	} {
		for _, owner := range []string{"team:b:k", "", "team:a:k2"} {
			code, body := call(t, srv, c.method, c.path, owner, c.body)
			var er ErrorResponse
			if code != 404 || json.Unmarshal([]byte(body), &er) != nil || !strings.Contains(er.Error.Message, "'"+c.id+"'") ||
				(c.param != "" && (er.Error.Param == nil || *er.Error.Param != c.param)) || strings.Contains(body, "secret") || strings.Contains(body, "mine") {
				t.Errorf("%s %s %s as %q: %d %s", c.method, c.path, c.body, owner, code, body)
			}
		}
	}
	if n := len(gw.Requests()); n != 1 {
		t.Errorf("%d calls made; the refused ones must not reach the gateway", n)
	}
	for _, id := range []string{"resp_nope", "nope", "resp_", "msg_1_0"} {
		if code, body := call(t, srv, "GET", "/v1/responses/"+id, "team:a:k", ""); code != 404 || !strings.Contains(body, id) {
			t.Errorf("GET %s: %d %s", id, code, body)
		}
	}
	if code, body := call(t, srv, "POST", "/v1/responses", "team:a:k", `{"model":"m","input":[{"type":"item_reference","id":"no_such_item"}]}`); code != 404 || !strings.Contains(body, `"param":"input[0].id"`) {
		t.Errorf("an unknown item: %d %s", code, body)
	}
	// The owner still has it.
	if code, body := call(t, srv, "GET", "/v1/responses/resp_call_1", "team:a:k", ""); code != 200 || !strings.Contains(body, "secret") {
		t.Errorf("the owner's GET: %d %s", code, body)
	}
}

// A stream that fails mid-way is stored as failed, with its output so
// far, as OpenAI does.
func TestResponsesStoreFailed(t *testing.T) {
	srv, _ := storeServer(t, stream.Delta("a"),
		stream.ErrorEvent(&stream.Error{Code: stream.CodeUpstream, Message: "upstream closed the stream before it finished"}),
		stream.Finished(stream.FinishError))
	if code, body := call(t, srv, "POST", "/v1/responses", "", `{"model":"m","input":"hi","stream":true}`); code != 200 || !strings.Contains(body, "response.failed") {
		t.Fatalf("%d %s", code, body)
	}
	code, body := call(t, srv, "GET", "/v1/responses/resp_call_1", "", "")
	var r Response
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Status != "failed" || r.Error == nil || r.Error.Code != "upstream_error" || len(r.Output) != 1 {
		t.Errorf("GET: %d %s", code, body)
	}
}
