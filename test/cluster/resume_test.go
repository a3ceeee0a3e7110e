package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/test/cluster"
)

// Streams across replicas: a resumable stream's log is in Redis, so any
// replica replays it, follows it, cancels it, and ends it with an error
// event when the replica generating it died.

// deadlock guards every wait below; nothing is timed.
const deadlock = 60 * time.Second

// chatBody is an OpenAI chat request for model, streamed.
func chatBody(model string) string {
	return `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`
}

// post sends a streamed chat request to base with key (none if ""),
// resumable, or resuming after lastID when not "".
func post(t *testing.T, ctx context.Context, base, key, body string, resumable bool, lastID string) *http.Response {
	t.Helper()
	return postTo(t, ctx, base+"/v1/chat/completions", key, body, resumable, lastID)
}

// postTo is post to another endpoint, at url.
func postTo(t *testing.T, ctx context.Context, url, key, body string, resumable bool, lastID string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if resumable {
		req.Header.Set("Runnel-Resumable", "true")
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// chunks reads an OpenAI stream: the joined delta text, the last event
// id, the error event's message if any, and whether [DONE] came. It
// stops after n content events when n > 0.
func chunks(t *testing.T, body io.Reader, n int) (text, lastID, errMsg string, done bool) {
	t.Helper()
	r := sse.NewReader(body)
	var sb strings.Builder
	for k := 0; n <= 0 || k < n; {
		ev, err := r.Next()
		if err != nil {
			break
		}
		lastID = ev.ID
		if ev.Data == "[DONE]" {
			done = true
			break
		}
		var c struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Error *struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			t.Fatalf("event %q: %v", ev.Data, err)
		}
		if c.Error != nil {
			errMsg = c.Error.Message
			continue
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				sb.WriteString(ch.Delta.Content)
				k++
			}
		}
	}
	return sb.String(), lastID, errMsg, done
}

func keyFor(t *testing.T, base, name string) string {
	t.Helper()
	team := adminPost(t, base+"/admin/teams", `{"name":"`+name+`","credits":1000}`)
	k := adminPost(t, base+"/admin/keys", `{"team_id":"`+team["id"].(string)+`"}`)
	return k["key"].(string)
}

// A stream started on replica 0 and cut is resumed on replica 1: the text
// is byte for byte that of an uninterrupted run (on replica 2); the
// stream's owner is checked on every replica.
func TestResumeOnAnotherReplica(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Replicas: 3, Postgres: true, Redis: true,
		Args: []string{"--auth"},
		Env:  []string{"RUNNEL_ADMIN_KEY=admin-secret", "RUNNEL_RESUME_GRACE=1h"},
	})
	keyA, keyB := keyFor(t, c.Replicas[0].BaseURL, "a"), keyFor(t, c.Replicas[0].BaseURL, "b")
	body := chatBody("mock/x?tokens=120&itl=2ms")
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()

	resp := post(t, ctx, c.Replicas[2].BaseURL, keyA, body, false, "")
	want, _, _, done := chunks(t, resp.Body, 0)
	resp.Body.Close()
	if !done || len(want) == 0 {
		t.Fatalf("the uninterrupted run: %q, done %v", want, done)
	}

	cut, cancelCut := context.WithCancel(ctx)
	resp = post(t, cut, c.Replicas[0].BaseURL, keyA, body, true, "")
	if resp.StatusCode != 200 || resp.Header.Get("Runnel-Stream-Id") == "" {
		t.Fatalf("resumable stream: %d, stream id %q", resp.StatusCode, resp.Header.Get("Runnel-Stream-Id"))
	}
	head, lastID, _, _ := chunks(t, resp.Body, 10)
	cancelCut() // the connection breaks
	resp.Body.Close()

	// Another caller cannot resume it on any replica.
	for _, r := range c.Replicas[1:] {
		resp := post(t, ctx, r.BaseURL, keyB, body, false, lastID)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("another key's resume on %s: %d %s, want 404", r.BaseURL, resp.StatusCode, b)
		}
	}
	resp = post(t, ctx, c.Replicas[1].BaseURL, keyA, body, false, lastID)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("resume on replica 1: %d %s", resp.StatusCode, b)
	}
	tail, _, errMsg, done := chunks(t, resp.Body, 0)
	resp.Body.Close()
	if errMsg != "" || !done {
		t.Fatalf("resumed stream: error %q, done %v", errMsg, done)
	}
	if got := head + tail; got != want {
		t.Fatalf("cut on replica 0 and resumed on replica 1:\n%q\nuninterrupted:\n%q", got, want)
	}
}

// upstream is a fake OpenAI upstream that sends one chunk and then waits
// until its request is cancelled, which it reports on cancelled.
func upstream(t *testing.T) (url string, cancelled <-chan struct{}) {
	ch := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"first"},"finish_reason":null}]}`+"\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		ch <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", ch
}

// DELETE /api/v1/streams/{id} on replica 1 stops the generation running
// on replica 0 at once: its upstream request is cancelled, and its client
// sees the stream end.
func TestCancelOnAnotherReplica(t *testing.T) {
	up, cancelled := upstream(t)
	c := cluster.Start(t, cluster.Options{
		Replicas: 2, Redis: true,
		Env: []string{"OPENAI_BASE_URL=" + up, "OPENAI_API_KEY=x", "RUNNEL_RESUME_GRACE=1h"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	resp := post(t, ctx, c.Replicas[0].BaseURL, "", chatBody("openai/m"), true, "")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	id := resp.Header.Get("Runnel-Stream-Id")
	if text, _, _, _ := chunks(t, resp.Body, 1); text != "first" {
		t.Fatalf("first chunk %q", text)
	}
	req, _ := http.NewRequestWithContext(ctx, "DELETE", c.Replicas[1].BaseURL+"/api/v1/streams/"+id, nil)
	dr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dr.Body.Close()
	if dr.StatusCode != 204 {
		t.Fatalf("DELETE on replica 1: %d, want 204", dr.StatusCode)
	}
	select {
	case <-cancelled:
	case <-ctx.Done():
		t.Fatal("the upstream request was never cancelled")
	}
	// The client on replica 0 sees its stream end (no more events).
	chunks(t, resp.Body, 0)
	// A second DELETE, on either replica: the stream is gone.
	for _, r := range c.Replicas {
		req, _ := http.NewRequestWithContext(ctx, "DELETE", r.BaseURL+"/api/v1/streams/"+id, nil)
		dr, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		dr.Body.Close()
		if dr.StatusCode != 204 && dr.StatusCode != 404 {
			t.Fatalf("second DELETE on %s: %d", r.BaseURL, dr.StatusCode)
		}
	}
}

// Replica 0 is killed (SIGKILL) mid-stream, serving a provider that
// cannot continue an answer (an OpenAI-compatible upstream; the mock
// can, see continue_test.go): a reconnect on replica 1 does not hang or
// 404; it replays what was logged and ends with an error event naming
// the interruption, then [DONE].
func TestReplicaKilledMidStream(t *testing.T) {
	up := hangingUpstream(t, "one", "two", "three")
	c := cluster.Start(t, cluster.Options{Replicas: 2, Redis: true, Env: []string{"RUNNEL_RESUME_GRACE=1h"},
		Config: "providers:\n  up:\n    type: openai\n    base_url: " + up.URL + "/v1\n"})
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	body := chatBody("up/gpt-4o-mini")
	resp := post(t, ctx, c.Replicas[0].BaseURL, "", body, true, "")
	head, _, _, _ := chunks(t, resp.Body, 3)
	if head != "one two three" {
		t.Fatalf("before the kill: %q", head)
	}
	id := resp.Header.Get("Runnel-Stream-Id")
	c.Replicas[0].Kill()
	resp.Body.Close()

	// From the first event: the whole log, then the interruption.
	resp = post(t, ctx, c.Replicas[1].BaseURL, "", body, false, id+"-0")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("resume on replica 1 after the kill: %d %s", resp.StatusCode, b)
	}
	text, _, errMsg, done := chunks(t, resp.Body, 0)
	if text != "one two three" || !strings.Contains(errMsg, "interrupted") || !done {
		t.Fatalf("after the kill: text %q, error %q, done %v; want the text, an interruption error, [DONE]", text, errMsg, done)
	}
}

// Stream tokens from one replica verify on the others (a shared secret).
func TestStreamTokenOnAnotherReplica(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Replicas: 2, Redis: true, Env: []string{"RUNNEL_STREAM_TOKEN_SECRET=shared-secret-for-tests"}})
	resp, err := http.Post(c.Replicas[0].BaseURL+"/api/v1/stream-tokens", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	for _, tc := range []struct {
		token string
		want  int
	}{{tok.Token, 200}, {tok.Token + "x", 401}} {
		resp, err := http.Get(c.Replicas[1].BaseURL + "/api/v1/inference/stream?model=mock/x&prompt=hi&token=" + tc.token)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("token from replica 0 on replica 1: %d %s, want %d", resp.StatusCode, b, tc.want)
		}
		if tc.want == 200 && !strings.Contains(string(b), `"done":true`) {
			t.Fatalf("stream: %s", b)
		}
	}
}
