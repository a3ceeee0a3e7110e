package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/sse"
)

// Every resumable endpoint's interruption (its replica died) is its own
// terminal error event, numbered on from the last logged event.
func TestInterruptedEvents(t *testing.T) {
	res := dialect.NewResumer(resume.Options{}, nil)
	server.Dialects(&dialecttest.Gateway{Provider: mock.New(mock.Options{})}, server.DialectOptions{Resumer: res})
	interrupted := res.Registry.Options().Interrupted
	const id = "rs_0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		kind, want string // want: in the last error-bearing event
	}{
		{"openai.chat", `{"error":{"message":"the stream was interrupted`},
		{"openai.completions", `{"error":{"message":"the stream was interrupted`},
		{"openai.responses", `{"type":"error","sequence_number":6,"code":"upstream_error","message":"the stream was interrupted`},
		{"anthropic.messages", `"type":"error","error":{"type":"api_error","message":"the stream was interrupted`},
		{"native.inference", `"done":true`},
		{"native.generate", `"type":"error"`},
	} {
		frames := interrupted(tc.kind, id, 7)
		if len(frames) == 0 {
			t.Fatalf("%s: no frames", tc.kind)
		}
		r := sse.NewReader(bytes.NewReader(bytes.Join(frames, nil)))
		var all []string
		for i := range frames {
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("%s: frame %d: %v", tc.kind, i, err)
			}
			if want := resume.FormatID(id, uint64(7+i)); ev.ID != want {
				t.Fatalf("%s: frame %d has id %q, want %q", tc.kind, i, ev.ID, want)
			}
			all = append(all, ev.Data)
		}
		joined := strings.Join(all, "\n")
		if !strings.Contains(joined, tc.want) || !strings.Contains(joined, "interrupted") {
			t.Errorf("%s: events %s\nwant %s and the interruption", tc.kind, joined, tc.want)
		}
	}
}

// Shutdown cancels a resumable call running with no client attached (the
// grace period is an hour) with dialect.ErrShuttingDown, and waits for it:
// its log ends with the dialect's error event, which a reconnect reads.
func TestShutdownEndsResumableCalls(t *testing.T) {
	res := dialect.NewResumer(resume.Options{Grace: time.Hour}, nil)
	gw := gateway.New(gateway.Options{Router: oneRoute{mock.New(mock.Options{})}})
	ts := httptest.NewServer(server.New(server.Options{Dialects: server.Dialects(gw, server.DialectOptions{Resumer: res})}))
	defer ts.Close()
	body := `{"model":"mock/x?text=a%20b&hang_after=1","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest("POST", ts.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Runnel-Resumable", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := sse.NewReader(resp.Body)
	var last string
	for {
		ev, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		last = ev.ID
		if strings.Contains(ev.Data, `"content":"a"`) {
			break
		}
	}
	resp.Body.Close() // the client goes; the call runs on (hung)

	done, cancel := context.WithCancel(context.Background())
	cancel() // the grace period is over
	if err := res.Shutdown(done); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("POST", ts.URL+"/v1/chat/completions", nil)
	req.Header.Set("Last-Event-ID", last)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rest, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(rest), "shutting down") || !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("after Shutdown the log ends with %d %s; want the error event and [DONE]", resp.StatusCode, rest)
	}
}
