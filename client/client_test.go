package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sseServer answers every request with body, as an event stream.
func sseServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func chatReq() ChatRequest {
	return ChatRequest{Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}}
}

func TestStreamChatDecodesChunks(t *testing.T) {
	body := `data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n" +
		": keep-alive\n\n" +
		`data: {"id":"c1","choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}` + "\r\n\r\n" +
		`data: {"id":"c1","choices":[{"index":0,"delta":{"content":", wörld"},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
		`data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\n" +
		"data: [DONE]\n\n"
	srv := sseServer(t, 200, body)
	s := New(srv.URL).StreamChat(context.Background(), chatReq())
	var got []string
	var last Event
	for ev, err := range s.Events() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Channel+":"+ev.Text)
		last = ev
	}
	want := []string{"thinking:hmm", "output:Hello", "output:, wörld", ":", ":"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events = %q, want %q", got, want)
	}
	if last.Usage == nil || *last.Usage != (Usage{3, 2, 5}) {
		t.Fatalf("last event usage = %+v", last.Usage)
	}
	if s.FinishReason() != "stop" || s.Usage().TotalTokens != 5 {
		t.Fatalf("finish %q usage %+v", s.FinishReason(), s.Usage())
	}
	m := s.Metrics()
	if m.Chunks != 3 || m.TTFC <= 0 || m.Total < m.TTFC {
		t.Fatalf("metrics = %+v", m)
	}
}

func TestStreamErrorBeforeStream(t *testing.T) {
	srv := sseServer(t, 404, `{"error":{"message":"model \"nope\" not found","type":"invalid_request_error","param":"model","code":"model_not_found"}}`)
	s := New(srv.URL).StreamChat(context.Background(), chatReq())
	var err error
	for _, e := range s.Events() {
		err = e
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if apiErr.Status != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" || apiErr.Message != `model "nope" not found` || apiErr.MidStream {
		t.Fatalf("err = %+v", apiErr)
	}
}

func TestStreamErrorMidStream(t *testing.T) {
	body := `data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}` + "\n\n" +
		`data: {"error":{"message":"upstream failed after 1 token","type":"server_error","code":"upstream_error"}}` + "\n\n" +
		"data: [DONE]\n\n"
	srv := sseServer(t, 200, body)
	text, err := New(srv.URL).StreamChat(context.Background(), chatReq()).Text()
	var apiErr *Error
	if !errors.As(err, &apiErr) || !apiErr.MidStream || apiErr.Code != "upstream_error" || apiErr.Message != "upstream failed after 1 token" {
		t.Fatalf("err = %#v", err)
	}
	if text != "Hi" {
		t.Fatalf("text = %q", text)
	}
}

func TestStreamCutIsConnectionError(t *testing.T) {
	body := `data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}` + "\n\n"
	srv := sseServer(t, 200, body) // ends without [DONE]
	_, err := New(srv.URL).StreamChat(context.Background(), chatReq()).Text()
	var ce *ConnectionError
	if !errors.As(err, &ce) || !ce.MidStream || !errors.Is(err, ErrConnection) {
		t.Fatalf("err = %#v, want a mid-stream ConnectionError", err)
	}
}

func TestUnreachableIsConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := New(url, WithRetries(1, time.Millisecond))
	_, err := c.StreamChat(context.Background(), chatReq()).Text()
	var ce *ConnectionError
	if !errors.As(err, &ce) || ce.MidStream {
		t.Fatalf("err = %#v, want a ConnectionError before the stream", err)
	}
}

func TestRetriesOn503ThenStreams(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sekret" {
			t.Errorf("authorization = %q", r.Header.Get("Authorization"))
		}
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"message":"busy","type":"server_error"}}`)
			return
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	c := New(srv.URL, WithAPIKey("sekret"), WithRetries(2, time.Millisecond))
	text, err := c.StreamChat(context.Background(), chatReq()).Text()
	if err != nil || text != "ok" || calls.Load() != 3 {
		t.Fatalf("text %q err %v calls %d", text, err, calls.Load())
	}
	// With no retries left the 503 is the answer.
	calls.Store(0)
	_, err = New(srv.URL, WithAPIKey("sekret"), WithRetries(0, time.Millisecond)).StreamChat(context.Background(), chatReq()).Text()
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Message != "busy" {
		t.Fatalf("err = %#v", err)
	}
}

func TestBreakCancelsRequest(t *testing.T) {
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t%d \"}}]}\n\n", i); err != nil {
				break
			}
			fl.Flush()
			select {
			case <-r.Context().Done():
				close(gone)
				return
			case <-time.After(time.Millisecond):
			}
		}
		close(gone)
	}))
	defer srv.Close()
	n := 0
	for _, err := range New(srv.URL).StreamChat(context.Background(), chatReq()).Events() {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second): // a hang guard, not a latency assertion
		t.Fatal("server never saw the request cancelled after the loop was broken")
	}
}

func TestErrorShapesOfEveryDialect(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		want Error
	}{
		"openai":    {`{"error":{"message":"bad temperature","type":"invalid_request_error","param":"temperature","code":null}}`, Error{Status: 400, Message: "bad temperature", Type: "invalid_request_error", Code: "invalid_request_error", Param: "temperature"}},
		"anthropic": {`{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}`, Error{Status: 400, Message: "max_tokens: required", Type: "invalid_request_error", Code: "invalid_request_error"}},
		"ollama":    {`{"error":"model 'x' not found"}`, Error{Status: 400, Message: "model 'x' not found"}},
		"plain":     {`upstream exploded`, Error{Status: 400, Message: "upstream exploded"}},
	} {
		t.Run(name, func(t *testing.T) {
			got := parseError([]byte(tc.body), 400)
			if *got != tc.want {
				t.Fatalf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

// The typed generation stream's error item (as dialect/native writes it)
// is an error, never output text, and the stream does not end cleanly.
func TestGenerateStreamErrorItem(t *testing.T) {
	body := `data: {"type":"text","name":"output","content":"Hi","done":false,"index":0}` + "\n\n" +
		`data: {"type":"error","name":"error","code":"upstream_error","content":"upstream failed after 1 token","done":true,"index":0}` + "\n\n" +
		`data: {"final":true,"warnings":["upstream failed after 1 token"],"finish_reason":"error"}` + "\n\n"
	srv := sseServer(t, 200, body)
	completed := false
	res, err := New(srv.URL).GenerateStream(context.Background(), GenerateRequest{ModelName: "m"},
		GenerateHandlers{OnComplete: func(GenerateFinal) { completed = true }})
	var apiErr *Error
	if !errors.As(err, &apiErr) || !apiErr.MidStream || apiErr.Code != "upstream_error" || apiErr.Message != "upstream failed after 1 token" {
		t.Fatalf("err = %#v", err)
	}
	if res.Output != "Hi" || completed {
		t.Fatalf("output %q, completed %v", res.Output, completed)
	}
}
