package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

func dial(t *testing.T, gw *dialecttest.Gateway, opts Options) *websocket.Conn {
	t.Helper()
	ts := dialecttest.Serve(t, NewServer(gw, opts).Register)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_, b, err := c.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readUntilDone reads frames until n done or error frames have arrived.
func readUntilDone(t *testing.T, c *websocket.Conn, n int) []string {
	t.Helper()
	var out []string
	for n > 0 {
		f := read(t, c)
		out = append(out, f)
		if strings.HasPrefix(f, `{"type":"done"`) || strings.HasPrefix(f, `{"type":"error"`) {
			n--
		}
	}
	return out
}

var script = dialecttest.Script(
	[]stream.Event{stream.ThinkingDelta("Hmm.")},
	dialecttest.Text("Hello", ", \"world\"\n"),
	[]stream.Event{
		dialecttest.ToolCall(stream.ToolCallDelta{Index: 0, ID: "c1", Name: "f", Arguments: "{}"}),
		stream.UsageEvent(stream.Usage{PromptTokens: 7, CompletionTokens: 3}), stream.Finished(stream.FinishStop)},
)

func TestChat(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	c := dial(t, gw, Options{})
	send(t, c, `{"type":"chat","id":"a","model":"m","messages":[{"role":"user","content":"hi"}],"parameters":{"max_tokens":5,"enable_thinking":true}}`)
	got := readUntilDone(t, c, 1)
	want := []string{
		`{"type":"token","id":"a","text":"Hmm.","channel":"thinking"}`,
		`{"type":"token","id":"a","text":"Hello"}`,
		`{"type":"token","id":"a","text":", \"world\"\n"}`,
		`{"type":"tool_call","id":"a","index":0,"call_id":"c1","name":"f","arguments":"{}"}`,
		`{"type":"done","id":"a","usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10},"finish_reason":"stop"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("frames\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := gw.Requests()[0]; r.Sampling.MaxTokens != 5 || !r.Thinking || r.Messages[0].Content != "hi" {
		t.Errorf("request %+v", r)
	}
	// The connection takes another prompt; one without an id gets one,
	// and one that did not ask for thinking gets only the answer.
	send(t, c, `{"type":"chat","model":"m","messages":[{"role":"user","content":"again"}]}`)
	got = readUntilDone(t, c, 1)
	if got[0] != `{"type":"token","id":"1","text":"Hello"}` || len(got) != 4 {
		t.Errorf("second prompt: %v", got)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("clean close: %v", err)
	}
}

func TestResponseFormat(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	c := dial(t, gw, Options{})
	send(t, c, `{"type":"chat","id":"b","model":"m","messages":[{"role":"user","content":"hi"}],"parameters":{"response_format":{"type":"xml"}}}`)
	if f := read(t, c); f != `{"type":"error","id":"b","error":{"code":"invalid_request","message":"parameters.response_format.type must be text, json_object or json_schema, got \"xml\"","param":"parameters.response_format.type"}}` {
		t.Errorf("bad format: %s", f)
	}
	send(t, c, `{"type":"chat","id":"a","model":"m","messages":[{"role":"user","content":"hi"}],"parameters":{"response_format":{"type":"json_object"}}}`)
	readUntilDone(t, c, 1)
	if r := gw.Requests(); len(r) != 1 || !reflect.DeepEqual(r[0].ResponseFormat, &stream.ResponseFormat{Type: stream.FormatJSONObject}) {
		t.Errorf("requests %+v", r)
	}
}

func TestConcurrentPromptsAndCancel(t *testing.T) {
	p := dialecttest.NewBlocking(stream.Delta("tick"))
	gw := &dialecttest.Gateway{Provider: p}
	c := dial(t, gw, Options{})
	send(t, c, `{"type":"chat","id":"x","model":"m","messages":[{"role":"user","content":"1"}]}`)
	send(t, c, `{"type":"chat","id":"y","model":"m","messages":[{"role":"user","content":"2"}]}`)
	var firsts []string
	for range 2 {
		firsts = append(firsts, read(t, c))
	}
	sort.Strings(firsts)
	if firsts[0] != `{"type":"token","id":"x","text":"tick"}` || firsts[1] != `{"type":"token","id":"y","text":"tick"}` {
		t.Fatalf("first frames %v", firsts)
	}
	send(t, c, `{"type":"cancel","id":"y"}`)
	if f := read(t, c); f != `{"type":"done","id":"y","usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},"finish_reason":"cancelled"}` {
		t.Errorf("after cancel: %s", f)
	}
	<-p.Cancelled // y's upstream work stopped
	send(t, c, `{"type":"cancel","id":"y"}`)
	if f := read(t, c); f != `{"type":"error","id":"y","error":{"code":"invalid_request","message":"no prompt \"y\" is streaming","param":"id"}}` {
		t.Errorf("second cancel: %s", f)
	}
	// Closing the connection cancels x.
	c.Close(websocket.StatusNormalClosure, "")
	<-p.Cancelled
}

func TestGarbageKeepsConnection(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script, Err: nil}
	c := dial(t, gw, Options{})
	for _, g := range []struct{ in, want string }{
		{`{not json`, `{"type":"error","error":{"code":"invalid_request","message":"invalid JSON message: invalid character 'n' looking for beginning of object key string"}}`},
		{`{"type":"dance"}`, `{"type":"error","error":{"code":"invalid_request","message":"unknown message type \"dance\": use \"chat\" or \"cancel\"","param":"type"}}`},
		{`{"id":"q"}`, `{"type":"error","id":"q","error":{"code":"invalid_request","message":"type is required: \"chat\" or \"cancel\"","param":"type"}}`},
		{`{"type":"chat","id":"q","model":5}`, `{"type":"error","error":{"code":"invalid_request","message":"invalid JSON message: json: cannot unmarshal number into Go struct field clientMessage.model of type string"}}`},
		{`{"type":"chat","id":"q","model":"m"}`, `{"type":"error","id":"q","error":{"code":"invalid_request","message":"messages is required","param":"messages"}}`},
		{`{"type":"chat","id":"q","messages":[{"role":"user","content":"x"}],"parameters":{"buffer_size":0}}`, `{"type":"error","id":"q","error":{"code":"invalid_request","message":"parameters.buffer_size must be between 1 and 4096 events, not 0","param":"parameters.buffer_size"}}`},
		{`{"type":"chat","id":"q","messages":[{"role":"user","content":"x"}],"parameters":{"timeout_ms":0}}`, `{"type":"error","id":"q","error":{"code":"invalid_request","message":"parameters.timeout_ms must be between 1 and 31536000000 milliseconds, not 0","param":"parameters.timeout_ms"}}`},
		{`{"type":"chat","id":"q","model":"m","messages":[{"role":"god","content":"x"}]}`, `{"type":"error","id":"q","error":{"code":"invalid_request","message":"messages[0].role \"god\" must be system, user or assistant","param":"messages"}}`},
	} {
		send(t, c, g.in)
		if f := read(t, c); f != g.want {
			t.Errorf("%s:\n got %s\nwant %s", g.in, f, g.want)
		}
	}
	if err := c.Write(context.Background(), websocket.MessageBinary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if f := read(t, c); !strings.Contains(f, "binary messages are not supported") {
		t.Errorf("binary: %s", f)
	}
	send(t, c, `{"type":"chat","id":"ok","model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if got := readUntilDone(t, c, 1); len(got) != 4 {
		t.Errorf("after garbage: %v", got)
	}
}

// Seeds 002 and 003 send the prompt as plain text and read token frames
// until done: that is a prompt for the default model (no model in the
// request), with the answer only.
func TestPlainTextPrompt(t *testing.T) {
	gw := &dialecttest.Gateway{Events: script}
	c := dial(t, gw, Options{})
	send(t, c, "Hello there")
	got := readUntilDone(t, c, 1)
	want := []string{
		`{"type":"token","id":"1","text":"Hello"}`,
		`{"type":"token","id":"1","text":", \"world\"\n"}`,
		`{"type":"tool_call","id":"1","index":0,"call_id":"c1","name":"f","arguments":"{}"}`,
		`{"type":"done","id":"1","usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10},"finish_reason":"stop"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("frames\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r := gw.Requests()[0]
	if r.Model != "" || len(r.Messages) != 1 || r.Messages[0].Content != "Hello there" || r.Thinking {
		t.Errorf("request %+v", r)
	}
	// buffer_size and timeout_ms reach the request.
	send(t, c, `{"type":"chat","messages":[{"role":"user","content":"x"}],"parameters":{"buffer_size":3,"timeout_ms":250}}`)
	readUntilDone(t, c, 1)
	if r := gw.Requests()[1]; r.BufferSize != 3 || r.Timeouts.Total != 250*time.Millisecond {
		t.Errorf("request %+v", r)
	}
}

func TestUnknownModel(t *testing.T) {
	c := dial(t, &dialecttest.Gateway{Err: stream.Errorf(stream.CodeNotFound, "unknown model \"x\"")}, Options{})
	send(t, c, `{"type":"chat","id":"a","model":"x","messages":[{"role":"user","content":"hi"}]}`)
	if f := read(t, c); f != `{"type":"error","id":"a","error":{"code":"not_found","message":"unknown model \"x\""}}` {
		t.Errorf("got %s", f)
	}
}

func TestMidStreamError(t *testing.T) {
	ev := dialecttest.Script(dialecttest.Text("part"), []stream.Event{
		stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "upstream broke")), stream.Finished(stream.FinishError)})
	c := dial(t, &dialecttest.Gateway{Events: ev}, Options{})
	send(t, c, `{"type":"chat","id":"a","model":"m","messages":[{"role":"user","content":"hi"}]}`)
	got := readUntilDone(t, c, 1)
	if len(got) != 2 || got[1] != `{"type":"error","id":"a","error":{"code":"upstream_error","message":"upstream broke"}}` {
		t.Errorf("got %v", got)
	}
}

func TestFloodIsClosed(t *testing.T) {
	c := dial(t, &dialecttest.Gateway{Events: script}, Options{Rate: 1, Burst: 5})
	ctx := context.Background()
	var err error
	for range 200 {
		if err = c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			break
		}
	}
	for err == nil {
		_, _, err = c.Read(ctx)
	}
	if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
		t.Errorf("close status %v (%v), want policy violation", s, err)
	}
}

func TestReadLimit(t *testing.T) {
	c := dial(t, &dialecttest.Gateway{Events: script}, Options{ReadLimit: 100})
	send(t, c, `{"type":"chat","model":"m","messages":[{"role":"user","content":"`+strings.Repeat("x", 200)+`"}]}`)
	_, _, err := c.Read(context.Background())
	if s := websocket.CloseStatus(err); s != websocket.StatusMessageTooBig {
		t.Errorf("close status %v (%v), want message too big", s, err)
	}
}

func TestTooManyPrompts(t *testing.T) {
	p := dialecttest.NewBlocking()
	c := dial(t, &dialecttest.Gateway{Provider: p}, Options{MaxPrompts: 1})
	send(t, c, `{"type":"chat","id":"a","model":"m","messages":[{"role":"user","content":"1"}]}`)
	send(t, c, `{"type":"chat","id":"b","model":"m","messages":[{"role":"user","content":"2"}]}`)
	if f := read(t, c); f != `{"type":"error","id":"b","error":{"code":"rate_limited","message":"at most 1 prompts may stream at once on a connection"}}` {
		t.Errorf("got %s", f)
	}
}

// FuzzMessage: any client message gets frames back without killing the
// connection (the handler is called directly, as the read loop does).
func FuzzMessage(f *testing.F) {
	f.Add(`{"type":"chat","model":"m","messages":[{"role":"user","content":"hi"}],"parameters":{"max_tokens":0}}`)
	f.Add(`{"type":"chat","model":"m","messages":[{"role":"user","content":"hi"}],"parameters":{"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{}}}}}`)
	f.Add(`{"type":"cancel","id":"zz"}`)
	f.Add(`{"type":"chat","id":"1","model":"m","messages":[{"role":"system"}],"parameters":{"temperature":9}}`)
	f.Add(`{"type":"chat","messages":[{"role":"user","content":"hi"}],"parameters":{"buffer_size":99999,"timeout_ms":-1}}`)
	f.Fuzz(func(t *testing.T, msg string) {
		var m clientMessage
		if json.Unmarshal([]byte(msg), &m) != nil {
			return
		}
		// A message without a model is for the default model.
		req, err := m.toRequest()
		if err == nil && (len(req.Messages) == 0 || req.BufferSize < 0 || req.BufferSize > stream.MaxBufferSize || req.Timeouts.Total < 0) {
			t.Fatalf("accepted %q", msg)
		}
		if err != nil && err.Code != stream.CodeInvalidRequest {
			t.Fatalf("code %v", err.Code)
		}
	})
}

var _ = errors.New
var _ = httptest.NewServer
