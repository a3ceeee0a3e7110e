package cluster_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/ollama/ollamatest"
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

	interruptedOnce(t, ctx, c, team, key, body, 60)
	for _, r := range up.Requests() {
		if msgs, _ := r.Body["messages"].([]any); len(msgs) == 2 && r.Body["_debug_render_only"] != true {
			t.Fatalf("a continuation reached Ollama: %v", r.Body)
		}
	}
}
