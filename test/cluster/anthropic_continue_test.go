package cluster_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/runnel/runnel/dialect/anthropic/anthropictest"
	"github.com/runnel/runnel/mock"
)

// An Anthropic upstream continues a stream whose replica died: the fake
// Messages API continues a final assistant message, writes each token from
// the whole text before it, two at a time, bills the prefill as input, and
// counts tokens (count_tokens) with a few it does not bill, as Anthropic's
// may. Killed after ten events, resumed on another replica, the client
// reads exactly the events of an uninterrupted run (the same text, usage
// and finish; a prefix lost or repeated at the seam would change every
// token after it), and the call is recorded once, with the whole answer's
// exact usage and cost, and charged once.
func TestAnthropicReplicaDiesContinued(t *testing.T) {
	up := &anthropictest.Server{Length: 60, Chunk: 2, ITL: 50 * time.Millisecond, CountExtra: 3, APIKey: "sk-ant-test"}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	c, team, key := paidCluster(t, "providers:\n  up:\n    type: anthropic\n    base_url: "+srv.URL+"\n    api_key: sk-ant-test\n"+
		"prices:\n  up/claude-fake: {input: 1, output: 2}\n", 5)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	body := `{"model":"up/claude-fake","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

	ref := continuedExactly(t, ctx, c, team, key, body, 60)

	// The continuation was counted with and without the text so far, then
	// sent as a prefill of it, trimmed, with max_tokens less its tokens.
	var counts int
	var first, continued map[string]any
	for _, r := range up.Requests() {
		msgs, _ := r.Body["messages"].([]any)
		switch {
		case r.Path == "/v1/messages/count_tokens":
			counts++
		case first == nil:
			first = r.Body
		case len(msgs) == 2:
			continued = r.Body
		}
	}
	if counts != 2 || continued == nil {
		t.Fatalf("%d counts and continuation %v reached the upstream; want 2 and one: %v", counts, continued, up.Requests())
	}
	m := continued["messages"].([]any)[1].(map[string]any)
	prefix, _ := m["content"].([]any)[0].(map[string]any)["text"].(string)
	if m["role"] != "assistant" || prefix == "" || !strings.HasPrefix(ref.text, prefix) || strings.TrimRightFunc(prefix, unicode.IsSpace) != prefix ||
		continued["max_tokens"] != first["max_tokens"].(float64)-float64(mock.Count(prefix)) {
		t.Fatalf("continued with %v after %v; want the text so far, trimmed, and max_tokens less its %d tokens", continued, first, mock.Count(prefix))
	}
}

// An Anthropic model that refuses a prefill (as Claude Opus 4.6 and later
// do) is not continued: the replica the client resumes on tries, gets the
// API's 400, and ends the stream with the interruption error after what
// was served; the call is recorded once, as an error with what was
// served, charging nothing.
func TestAnthropicReplicaDiesPrefillRefused(t *testing.T) {
	up := &anthropictest.Server{Length: 60, ITL: 50 * time.Millisecond, NoPrefill: true}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	c, team, key := paidCluster(t, "providers:\n  up:\n    type: anthropic\n    base_url: "+srv.URL+"\n", 5)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	interruptedOnce(t, ctx, c, team, key, chatBody("up/fake"), 60)
	tried := 0
	for _, r := range up.Requests() {
		if msgs, _ := r.Body["messages"].([]any); r.Path == "/v1/messages" && len(msgs) == 2 {
			tried++
		}
	}
	if tried != 1 {
		t.Fatalf("%d continuations reached the API, want the one it refused: %v", tried, up.Requests())
	}
}
