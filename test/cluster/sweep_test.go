package cluster_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/tokencount"
)

// The replica serving a resumable stream is killed and its client never
// comes back: another replica's sweeper finds the stream, ends its log
// with the interruption and records the call once, with the usage of
// what was served and its cost; the team's spend shows it. A client
// reconnecting afterwards reads the interruption, and nothing more is
// recorded.
func TestReplicaDiesUnreadRecordedOnce(t *testing.T) {
	up := hangingUpstream(t, "one", "two", "three")
	c, team, key := paidCluster(t, "providers:\n  up:\n    type: openai\n    base_url: "+up.URL+"/v1\n"+
		"prices:\n  up/gpt-4o-mini: {input: 1000000, output: 2000000}\n", 5)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
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
	resp.Body.Close() // and no reconnect

	var cs []recordedCall
	for {
		if cs = calls(t, c.Replicas[1].BaseURL, team); len(cs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no replica recorded the call of the killed replica's stream (deadlock guard)")
		case <-time.After(100 * time.Millisecond): // between polls
		}
	}
	counter := tokencount.Counter{Fallback: gateway.ApproxCounter{}} // as serve counts
	in, out := int64(counter.Count("gpt-4o-mini", "hi\n")), int64(counter.Count("gpt-4o-mini", "one two three"))
	check := func(cs []recordedCall) {
		t.Helper()
		if len(cs) != 1 {
			t.Fatalf("%d calls recorded, want 1: %+v", len(cs), cs)
		}
		got := cs[0]
		if got.Status != "error" || got.Output != "one two three" || got.Error == nil || !strings.Contains(got.Error.Message, "interrupted") ||
			got.Usage.In != in || got.Usage.Out != out || !got.Usage.Estimated || got.Cost.Total != float64(in+2*out) || got.Credits != 0 {
			t.Fatalf("recorded %+v; want status error, the text served, %d+%d estimated tokens costing %d, no credits", got, in, out, in+2*out)
		}
		tm := adminGet(t, c.Replicas[2].BaseURL+"/admin/teams/"+team)
		if tm["credits"] != float64(5) || tm["spent"] != float64(in+2*out) {
			t.Fatalf("team %v; want 5 credits, %d spent", tm, in+2*out)
		}
	}
	check(cs)

	// A late reconnect gets the interruption from the log: no new text,
	// no second record.
	resp = post(t, ctx, c.Replicas[2].BaseURL, key, body, false, last)
	text, _, errMsg, done := chunks(t, resp.Body, 0)
	resp.Body.Close()
	if resp.StatusCode != 200 || text != "" || !strings.Contains(errMsg, "interrupted") || !done {
		t.Fatalf("resumed after the sweep: %d, text %q, error %q, done %v; want no more text, the interruption error, [DONE]", resp.StatusCode, text, errMsg, done)
	}
	check(calls(t, c.Replicas[2].BaseURL, team))
}
