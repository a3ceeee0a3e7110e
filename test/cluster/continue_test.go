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

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/test/cluster"
	"github.com/runnel/runnel/tokencount"
)

// A replica dies mid-stream: the call it was serving is recorded exactly
// once, by the replica that ends (or continues) its log, with its usage
// and cost.

// paidCluster starts 3 replicas on PostgreSQL and Redis with auth on, the
// config cfg, and a team with credits and a key of it.
func paidCluster(t *testing.T, cfg string, credits int) (c *cluster.Cluster, team, key string) {
	t.Helper()
	c = cluster.Start(t, cluster.Options{
		Replicas: 3, Postgres: true, Redis: true, Config: cfg,
		Args: []string{"--auth"},
		Env:  []string{"RUNNEL_ADMIN_KEY=admin-secret", "RUNNEL_RESUME_GRACE=1h"},
	})
	team = adminPost(t, c.Replicas[1].BaseURL+"/admin/teams", fmt.Sprintf(`{"name":"payer","credits":%d}`, credits))["id"].(string)
	key = adminPost(t, c.Replicas[1].BaseURL+"/admin/keys", `{"team_id":"`+team+`"}`)["key"].(string)
	return c, team, key
}

// recordedCall is a call as /admin/calls shows it.
type recordedCall struct {
	ID     string `json:"call_id"`
	Status string `json:"status"`
	Output string `json:"output"`
	Usage  struct {
		In        int64 `json:"input_tokens"`
		Out       int64 `json:"output_tokens"`
		Estimated bool  `json:"estimated"`
	} `json:"usage"`
	Cost    struct{ Total float64 } `json:"cost"`
	Credits int64                   `json:"credits"`
	Error   *struct{ Message string }
}

// calls lists team's recorded calls, read on the replica at base.
func calls(t *testing.T, base, team string) []recordedCall {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/admin/calls?team_id="+team, nil)
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Calls []recordedCall }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Calls
}

// hangingUpstream is an OpenAI-compatible server whose chat stream sends
// words, one chunk each, then hangs until its client goes.
func hangingUpstream(t *testing.T, words ...string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i, word := range words {
			if i > 0 {
				word = " " + word
			}
			b, _ := json.Marshal(word)
			fmt.Fprintf(w, "data: {\"id\":\"up\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s}}]}\n\n", b)
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// interrupted is a resumable call whose replica was killed mid-stream:
// three replicas with auth in front of an OpenAI-compatible upstream
// (which cannot continue), a team of 5 credits, the call's first three
// events read from replica 0, then replica 0 killed.
type interrupted struct {
	c               *cluster.Cluster
	team, key, body string
	last            string // the last event id read
}

func interruptCall(t *testing.T, ctx context.Context) interrupted {
	t.Helper()
	up := hangingUpstream(t, "one", "two", "three")
	c, team, key := paidCluster(t, "providers:\n  up:\n    type: openai\n    base_url: "+up.URL+"/v1\n"+
		"prices:\n  up/gpt-4o-mini: {input: 1000000, output: 2000000}\n", 5)
	body := chatBody("up/gpt-4o-mini")
	resp := post(t, ctx, c.Replicas[0].BaseURL, key, body, true, "")
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("the call: %d %s", resp.StatusCode, b)
	}
	head, last, _, _ := chunks(t, resp.Body, 3)
	if head != "one two three" {
		t.Fatalf("before the kill: %q", head)
	}
	c.Replicas[0].Kill()
	resp.Body.Close()
	return interrupted{c: c, team: team, key: key, body: body, last: last}
}

// resumeInterrupted reconnects on base and wants the interruption error
// and [DONE], with no more text.
func (in interrupted) resumeInterrupted(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	resp := post(t, ctx, base, in.key, in.body, false, in.last)
	text, _, errMsg, done := chunks(t, resp.Body, 0)
	resp.Body.Close()
	if resp.StatusCode != 200 || text != "" || !strings.Contains(errMsg, "interrupted") || !done {
		t.Fatalf("resumed after the kill: %d, text %q, error %q, done %v; want no more text, the interruption error, [DONE]", resp.StatusCode, text, errMsg, done)
	}
}

// recordedOnce wants exactly one record of the call, read on base: status
// error, the text served, its usage counted (flagged estimated) and its
// cost, no credits charged for a failed call, and the team's spend.
func (in interrupted) recordedOnce(t *testing.T, base string) {
	t.Helper()
	cs := calls(t, base, in.team)
	if len(cs) != 1 {
		t.Fatalf("%d calls recorded, want 1: %+v", len(cs), cs)
	}
	counter := tokencount.Counter{Fallback: gateway.ApproxCounter{}} // as serve counts
	tin, tout := int64(counter.Count("gpt-4o-mini", "hi\n")), int64(counter.Count("gpt-4o-mini", "one two three"))
	got := cs[0]
	if got.Status != "error" || got.Output != "one two three" || got.Error == nil || !strings.Contains(got.Error.Message, "interrupted") ||
		got.Usage.In != tin || got.Usage.Out != tout || !got.Usage.Estimated || got.Cost.Total != float64(tin+2*tout) || got.Credits != 0 {
		t.Fatalf("recorded %+v; want status error, the text served, %d+%d estimated tokens costing %d, no credits", got, tin, tout, tin+2*tout)
	}
	tm := adminGet(t, base+"/admin/teams/"+in.team)
	if tm["credits"] != float64(5) || tm["spent"] != float64(tin+2*tout) {
		t.Fatalf("team %v; want 5 credits, %d spent", tm, tin+2*tout)
	}
}

// The provider (an OpenAI-compatible upstream) cannot continue: the
// stream ends with the interruption error on the replica the client
// resumed on, and the call is recorded once, with the usage of what was
// served (counted, flagged estimated) and its cost, seen on a third
// replica; no credit is charged for a call that failed.
func TestReplicaDiesUncontinuableRecordedOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	in := interruptCall(t, ctx)
	in.resumeInterrupted(t, ctx, in.c.Replicas[1].BaseURL)
	// A second reconnect, on another replica, records nothing more.
	resp := post(t, ctx, in.c.Replicas[2].BaseURL, in.key, in.body, false, in.last)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	in.recordedOnce(t, in.c.Replicas[2].BaseURL)
}

// sseEvent is one event of an OpenAI stream, its data decoded.
type sseEvent struct {
	id   string
	data map[string]any // nil for [DONE]
}

// readEvents reads an OpenAI stream: every event, or the first n content
// events (n > 0).
func readEvents(t *testing.T, body io.Reader, n int) []sseEvent {
	t.Helper()
	r := sse.NewReader(body)
	var evs []sseEvent
	content := 0
	for n <= 0 || content < n {
		ev, err := r.Next()
		if err != nil {
			break
		}
		e := sseEvent{id: ev.ID}
		if ev.Data != "[DONE]" {
			if err := json.Unmarshal([]byte(ev.Data), &e.data); err != nil {
				t.Fatalf("event %q: %v", ev.Data, err)
			}
			if strings.Contains(ev.Data, `"content"`) {
				content++
			}
		}
		evs = append(evs, e)
	}
	return evs
}

// normal is an event's data without what differs between two calls (the
// call's id and start, and the timings measured), as JSON.
func normal(e sseEvent) string {
	if e.data == nil {
		return "[DONE]"
	}
	m := map[string]any{}
	for k, v := range e.data {
		if k != "id" && k != "created" && k != "timings" {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// killAndContinue runs body uninterrupted on replica 2, for reference;
// then resumable on replica 0, which is killed after ten content events;
// and resumes it on replica 1, which must continue it. The client must
// read, in all, the events of the uninterrupted run (normal). It returns
// both runs' events.
func killAndContinue(t *testing.T, ctx context.Context, c *cluster.Cluster, key, body string) (want, got []sseEvent) {
	t.Helper()
	resp := post(t, ctx, c.Replicas[2].BaseURL, key, body, true, "")
	want = readEvents(t, resp.Body, 0)
	resp.Body.Close()

	resp = post(t, ctx, c.Replicas[0].BaseURL, key, body, true, "")
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("the call: %d %s", resp.StatusCode, b)
	}
	got = readEvents(t, resp.Body, 10)
	c.Replicas[0].Kill()
	resp.Body.Close()
	resp = post(t, ctx, c.Replicas[1].BaseURL, key, body, false, got[len(got)-1].id)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("resume after the kill: %d %s", resp.StatusCode, b)
	}
	got = append(got, readEvents(t, resp.Body, 0)...)
	resp.Body.Close()
	if !strings.Contains(c.Replicas[1].Logs(), "continuing it here") {
		t.Fatalf("replica 1 did not continue the stream:\n%s", c.Replicas[1].Logs())
	}

	var gotN, wantN []string
	for _, e := range got {
		gotN = append(gotN, normal(e))
	}
	for _, e := range want {
		wantN = append(wantN, normal(e))
	}
	if strings.Join(gotN, "\n") != strings.Join(wantN, "\n") {
		t.Fatalf("interrupted and continued, the client read\n%s\nwant, as uninterrupted\n%s", strings.Join(gotN, "\n"), strings.Join(wantN, "\n"))
	}
	return want, got
}

// The provider (the mock) can continue: the replica the client resumes on
// takes the stream over and continues the generation from the text so
// far; the client reads, in all, exactly the events of an uninterrupted
// run (one call's id, consecutive event ids, the same text, usage and
// finish), and the call is recorded once with the whole usage and
// charged once.
func TestReplicaDiesContinued(t *testing.T) {
	c, team, key := paidCluster(t, "", 5)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	body := `{"model":"mock/default?tokens=60&itl=50ms","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

	_, got := killAndContinue(t, ctx, c, key, body)
	streamID, _, _ := strings.Cut(got[0].id, "-")
	for i, e := range got {
		if e.id != fmt.Sprintf("%s-%d", streamID, i+1) {
			t.Fatalf("event %d has id %q, want %s-%d", i, e.id, streamID, i+1)
		}
		if e.data != nil && (e.data["id"] != got[0].data["id"] || e.data["created"] != got[0].data["created"]) {
			t.Fatalf("event %d is of call %v created %v, want %v created %v", i, e.data["id"], e.data["created"], got[0].data["id"], got[0].data["created"])
		}
	}

	cs := calls(t, c.Replicas[2].BaseURL, team)
	if len(cs) != 2 {
		t.Fatalf("%d calls recorded, want 2 (the reference and the continued one): %+v", len(cs), cs)
	}
	if a, b := cs[0], cs[1]; a.ID == b.ID || a.Status != "ok" || b.Status != "ok" || a.Output != b.Output || a.Usage != b.Usage || a.Usage.Estimated || a.Credits != 1 || b.Credits != 1 {
		t.Fatalf("recorded %+v and %+v; want two calls alike, ok, exact usage, 1 credit each", a, b)
	}
	if id, _ := got[0].data["id"].(string); !strings.HasSuffix(id, cs[0].ID) && !strings.HasSuffix(id, cs[1].ID) {
		t.Fatalf("the stream's call %s is not recorded: %+v", id, cs)
	}
	if tm := adminGet(t, c.Replicas[2].BaseURL+"/admin/teams/"+team); tm["credits"] != float64(3) {
		t.Fatalf("team %v; want 3 credits left", tm)
	}
}

// continuedExactly runs killAndContinue on body, whose uninterrupted
// answer has out tokens and stops, over an upstream whose usage is exact:
// the continued stream must be one call, and both calls must be recorded
// alike (ok, the whole text, the same exact usage and cost), each charged
// one credit of the team's five. It returns the uninterrupted run.
func continuedExactly(t *testing.T, ctx context.Context, c *cluster.Cluster, team, key, body string, out int) streamed {
	t.Helper()
	want, got := killAndContinue(t, ctx, c, key, body)
	ref := readStream(want)
	if ref.finish != "stop" || ref.out != float64(out) || !ref.done {
		t.Fatalf("the uninterrupted run: %+v", ref)
	}
	cont := readStream(got)
	for i, e := range got {
		if e.data != nil && e.data["id"] != cont.call {
			t.Fatalf("event %d is of call %v, want %v", i, e.data["id"], cont.call)
		}
	}
	cs := calls(t, c.Replicas[2].BaseURL, team)
	if len(cs) != 2 {
		t.Fatalf("%d calls recorded, want 2 (the reference and the continued one): %+v", len(cs), cs)
	}
	if a, b := cs[0], cs[1]; a.ID == b.ID || a.Status != "ok" || b.Status != "ok" || a.Output != ref.text || b.Output != ref.text ||
		a.Usage != b.Usage || a.Usage.In != int64(ref.in) || a.Usage.Out != int64(out) || a.Usage.Estimated || a.Cost != b.Cost || a.Cost.Total == 0 ||
		a.Credits != 1 || b.Credits != 1 {
		t.Fatalf("recorded %+v and %+v; want two calls alike, ok, the whole text, exact usage (%v+%d) and cost, 1 credit each", a, b, ref.in, out)
	}
	if !strings.HasSuffix(cont.call, cs[0].ID) && !strings.HasSuffix(cont.call, cs[1].ID) {
		t.Fatalf("the stream's call %s is not recorded: %+v", cont.call, cs)
	}
	if tm := adminGet(t, c.Replicas[2].BaseURL+"/admin/teams/"+team); tm["credits"] != float64(3) {
		t.Fatalf("team %v; want 3 credits left", tm)
	}
	return ref
}

// interruptedOnce reads body's stream (an answer of length tokens) from
// replica 0 for ten events, kills it, and resumes on replica 1, whose
// provider must not continue it: the stream must end with the
// interruption error after part of the answer, and the call be recorded
// once, as an error with the text served, its usage counted (estimated),
// no credits.
func interruptedOnce(t *testing.T, ctx context.Context, c *cluster.Cluster, team, key, body string, length int) {
	t.Helper()
	resp := post(t, ctx, c.Replicas[0].BaseURL, key, body, true, "")
	head, last, _, _ := chunks(t, resp.Body, 10)
	c.Replicas[0].Kill()
	resp.Body.Close()
	resp = post(t, ctx, c.Replicas[1].BaseURL, key, body, false, last)
	rest, _, errMsg, done := chunks(t, resp.Body, 0)
	resp.Body.Close()
	served := head + rest
	if resp.StatusCode != 200 || !strings.Contains(errMsg, "interrupted") || !done || mock.Count(served) >= length {
		t.Fatalf("resumed after the kill: %d, %q then %q, error %q, done %v; want part of the answer, the interruption error, [DONE]", resp.StatusCode, head, rest, errMsg, done)
	}
	if strings.Contains(c.Replicas[1].Logs(), "continuing it here") {
		t.Fatalf("replica 1 continued the stream on a model that does not continue:\n%s", c.Replicas[1].Logs())
	}
	counter := tokencount.Counter{Fallback: gateway.ApproxCounter{}} // as serve counts
	out := int64(counter.Count("fake", served))
	cs := calls(t, c.Replicas[2].BaseURL, team)
	if len(cs) != 1 || cs[0].Status != "error" || cs[0].Output != served || !cs[0].Usage.Estimated || cs[0].Usage.Out != out || cs[0].Credits != 0 {
		t.Fatalf("recorded %+v; want one call, status error, the text served (%q) counted (%d tokens, estimated), no credits", cs, served, out)
	}
}
