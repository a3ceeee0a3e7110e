package cluster_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/ollama/ollamatest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/tokencount"
)

// An Ollama upstream continues a stream whose replica died: the fake
// Ollama renders the chat as a template that leaves a final assistant
// message open, writes each token from the whole text before it, and
// counts the prefix in the prompt, as a real Ollama does. Killed after ten
// tokens, resumed on another replica, the client reads exactly the events
// of an uninterrupted run (the same text, usage and finish; a prefix lost
// or repeated at the seam would change every token after it), and the
// call is recorded once, with the whole answer's exact usage and cost,
// and charged once.
func TestOllamaReplicaDiesContinued(t *testing.T) {
	up := &ollamatest.Server{Length: 60, ITL: 50 * time.Millisecond}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	c, team, key := paidCluster(t, "providers:\n  up:\n    type: ollama\n    base_url: "+srv.URL+"\n"+
		"prices:\n  up/fake: {input: 1, output: 2}\n", 5)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	body := `{"model":"up/fake","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

	ref := continuedExactly(t, ctx, c, team, key, body, 60)

	// The continuation was the dead replica's request with its text so
	// far as the answer begun, think off.
	var continued bool
	for _, r := range up.Requests() {
		msgs, _ := r.Body["messages"].([]any)
		if r.Body["stream"] == true && len(msgs) == 2 {
			continued = r.Body["think"] == false && strings.HasPrefix(ref.text, msgs[1].(map[string]any)["content"].(string))
		}
	}
	if !continued {
		t.Fatalf("no continuation reached Ollama: %v", up.Requests())
	}
}

// An Ollama model whose template ends a final assistant message (and
// would start a second answer) is not continued: the replica the client
// resumes on probes the template, ends the stream with the interruption
// error after what was served, and records the call once, as an error
// with what was served, charging nothing.
func TestOllamaReplicaDiesUncontinuable(t *testing.T) {
	up := &ollamatest.Server{Closing: true, Length: 60, ITL: 50 * time.Millisecond}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	c, team, key := paidCluster(t, "providers:\n  up:\n    type: ollama\n    base_url: "+srv.URL+"\n", 5)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	body := chatBody("up/fake")

	resp := post(t, ctx, c.Replicas[0].BaseURL, key, body, true, "")
	head, last, _, _ := chunks(t, resp.Body, 10)
	c.Replicas[0].Kill()
	resp.Body.Close()
	resp = post(t, ctx, c.Replicas[1].BaseURL, key, body, false, last)
	rest, _, errMsg, done := chunks(t, resp.Body, 0)
	resp.Body.Close()
	served := head + rest
	if resp.StatusCode != 200 || !strings.Contains(errMsg, "interrupted") || !done || mock.Count(served) >= 60 {
		t.Fatalf("resumed after the kill: %d, %q then %q, error %q, done %v; want part of the answer, the interruption error, [DONE]", resp.StatusCode, head, rest, errMsg, done)
	}
	if strings.Contains(c.Replicas[1].Logs(), "continuing it here") {
		t.Fatalf("replica 1 continued the stream on a model that does not continue:\n%s", c.Replicas[1].Logs())
	}
	for _, r := range up.Requests() {
		if msgs, _ := r.Body["messages"].([]any); len(msgs) == 2 && r.Body["_debug_render_only"] != true {
			t.Fatalf("a continuation reached Ollama: %v", r.Body)
		}
	}
	counter := tokencount.Counter{Fallback: gateway.ApproxCounter{}} // as serve counts
	out := int64(counter.Count("fake", served))
	cs := calls(t, c.Replicas[2].BaseURL, team)
	if len(cs) != 1 || cs[0].Status != "error" || cs[0].Output != served || !cs[0].Usage.Estimated || cs[0].Usage.Out != out || cs[0].Credits != 0 {
		t.Fatalf("recorded %+v; want one call, status error, the text served (%q) counted (%d tokens, estimated), no credits", cs, served, out)
	}
}
