package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/test/cluster"
)

// SIGTERM drains a replica: /readyz answers 503 at once while serving goes
// on for the pre-stop period; then streams still open at the end of the
// grace period get a terminal error event in their own dialect, resumable
// ones included, and the process exits cleanly, every call recorded (as
// the other replica reads them).
func TestDrain(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Replicas: 2, Redis: true, Postgres: true, Args: []string{"--auth"},
		Env: []string{"RUNNEL_ADMIN_KEY=admin-secret", "RUNNEL_PRE_STOP=3s", "RUNNEL_SHUTDOWN_GRACE=1s", "RUNNEL_RESUME_GRACE=1h"}})
	r := c.Replicas[0]
	team := adminPost(t, r.BaseURL+"/admin/teams", `{"name":"drain","credits":1000}`)
	key := adminPost(t, r.BaseURL+"/admin/keys", `{"team_id":"`+team["id"].(string)+`"}`)["key"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	const hang = "mock/x?text=tok&hang_after=1" // one token, then nothing until cancelled

	// Every dialect's stream, open before the SIGTERM; each result is the
	// terminal error it saw ("" for none).
	type result struct{ name, err string }
	results := make(chan result, 8)
	started := make(chan struct{}, 8)
	streamOf := func(name, path, body string, resumable bool, read func(io.Reader) string) {
		req, _ := http.NewRequestWithContext(ctx, "POST", r.BaseURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		if resumable {
			req.Header.Set("Runnel-Resumable", "true")
		}
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- result{name, "request: " + err.Error()}
				return
			}
			defer resp.Body.Close()
			results <- result{name, read(resp.Body)}
		}()
	}
	// sseErr reads an SSE stream to its end and returns the message of
	// its error event; started is signalled at the first event.
	sseErr := func(body io.Reader) string {
		rd := sse.NewReader(body)
		first := true
		msg := ""
		for {
			ev, err := rd.Next()
			if err != nil {
				return msg
			}
			if first {
				started <- struct{}{}
				first = false
			}
			var e struct {
				Error *struct{ Message string } `json:"error"`
			}
			json.Unmarshal([]byte(ev.Data), &e)
			if e.Error != nil {
				msg = ev.Event + ": " + e.Error.Message
			}
		}
	}
	ndjsonErr := func(body io.Reader) string {
		sc := bufio.NewScanner(body)
		first, msg := true, ""
		for sc.Scan() {
			if first {
				started <- struct{}{}
				first = false
			}
			var e struct{ Error string }
			json.Unmarshal(sc.Bytes(), &e)
			if e.Error != "" {
				msg = e.Error
			}
		}
		return msg
	}
	chat := `{"model":"` + hang + `","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`
	streamOf("openai", "/v1/chat/completions", chat, false, sseErr)
	streamOf("openai resumable", "/v1/chat/completions", chat, true, sseErr)
	streamOf("anthropic", "/v1/messages", chat, false, sseErr)
	streamOf("native", "/api/v1/inference/stream", `{"model":"`+hang+`","prompt":"hi"}`, false, sseErr)
	streamOf("ollama", "/api/chat", `{"model":"`+hang+`","messages":[{"role":"user","content":"hi"}]}`, false, ndjsonErr)
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.BaseURL, "http")+"/ws/chat", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"chat","id":"p1","model":"`+hang+`","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		t.Fatal(err)
	}
	go func() {
		msg := ""
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				break
			}
			var f struct {
				Type  string
				Error struct{ Message string }
			}
			json.Unmarshal(b, &f)
			switch f.Type {
			case "token":
				started <- struct{}{}
			case "error":
				msg = f.Error.Message
			}
			if f.Type == "error" || f.Type == "done" {
				break
			}
		}
		results <- result{"websocket", msg}
	}()
	const streams = 6
	for range streams {
		<-started // every stream has its first token
	}

	r.Term()
	// /readyz fails at once, while requests are still served.
	for {
		resp, err := http.Get(r.BaseURL + "/readyz")
		if err != nil {
			t.Fatalf("/readyz unreachable before it said 503: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == 503 {
			break
		}
	}
	req, _ := http.NewRequest("POST", r.BaseURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"mock/x?text=still%20here","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a request during the pre-stop period: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "still here") {
		t.Fatalf("a request during the pre-stop period: %d %s", resp.StatusCode, b)
	}

	for range streams {
		res := <-results
		if !strings.Contains(res.err, "shutting down") {
			t.Errorf("%s: terminal error %q, want one saying the server is shutting down", res.name, res.err)
		}
	}
	if code, err := r.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("exit code %d, %v", code, err)
	}
	// Every call is recorded, the resumable one included: 6 streams
	// (their errors counted) and the call during the pre-stop period.
	u := adminGet(t, c.Replicas[1].BaseURL+"/admin/usage?team_id="+team["id"].(string))
	var calls, errs float64
	for _, row := range u["usage"].([]any) {
		calls += row.(map[string]any)["calls"].(float64)
		errs += row.(map[string]any)["errors"].(float64)
	}
	if calls != streams+1 || errs != streams {
		t.Fatalf("recorded %v calls, %v errors; want %d, %d: %v", calls, errs, streams+1, streams, u)
	}
}
