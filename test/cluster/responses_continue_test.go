package cluster_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/runnel/runnel/sse"
)

// responseFrame is one event of a /v1/responses stream.
type responseFrame struct{ id, data string }

// responseFrames reads a /v1/responses stream, stopping after n
// output_text deltas when n > 0, and closes it.
func responseFrames(t *testing.T, resp *http.Response, n int) []responseFrame {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	r := sse.NewReader(resp.Body)
	var out []responseFrame
	for deltas := 0; n <= 0 || deltas < n; {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if ev.Event == "response.output_text.delta" {
			deltas++
		}
		out = append(out, responseFrame{ev.ID, ev.Data})
	}
	return out
}

var createdAt = regexp.MustCompile(`"created_at":\d+`)

// normalResponses is a stream's data with what differs between two calls
// (the call's id, in the response's and the items' ids, and its start)
// taken out.
func normalResponses(t *testing.T, frames []responseFrame) string {
	t.Helper()
	var first struct{ Response struct{ ID string } }
	if len(frames) == 0 || json.Unmarshal([]byte(frames[0].data), &first) != nil || !strings.HasPrefix(first.Response.ID, "resp_call_") {
		t.Fatalf("the stream does not start with response.created: %v", frames)
	}
	call := strings.TrimPrefix(first.Response.ID, "resp_call_")
	var sb strings.Builder
	for _, f := range frames {
		sb.WriteString(createdAt.ReplaceAllString(strings.ReplaceAll(f.data, call, "CALL"), `"created_at":0`))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// The Responses API's stream continued on another replica (the mock can
// continue): the client reads exactly the events of an uninterrupted run,
// sequence numbers, item ids and all (the encoder is fed the events
// logged, then the continuation's), one response id throughout, and the
// call is recorded once, with the whole usage, and charged once.
func TestResponsesReplicaDiesContinued(t *testing.T) {
	c, team, key := paidCluster(t, "", 5)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	body := `{"model":"mock/default?tokens=60&itl=50ms","stream":true,"input":"hi"}`
	url := func(i int) string { return c.Replicas[i].BaseURL + "/v1/responses" }

	want := responseFrames(t, postTo(t, ctx, url(2), key, body, true, ""), 0)
	got := responseFrames(t, postTo(t, ctx, url(0), key, body, true, ""), 10)
	c.Replicas[0].Kill()
	got = append(got, responseFrames(t, postTo(t, ctx, url(1), key, body, false, got[len(got)-1].id), 0)...)
	if !strings.Contains(c.Replicas[1].Logs(), "continuing it here") {
		t.Fatalf("replica 1 did not continue the stream:\n%s", c.Replicas[1].Logs())
	}
	if g, w := normalResponses(t, got), normalResponses(t, want); g != w {
		t.Fatalf("interrupted and continued, the client read\n%s\nwant, as uninterrupted\n%s", g, w)
	}
	streamID, _, _ := strings.Cut(got[0].id, "-")
	for i, f := range got {
		if f.id != streamID+"-"+strconv.Itoa(i+1) {
			t.Fatalf("event %d has id %q, want %s-%d", i, f.id, streamID, i+1)
		}
	}
	if last := got[len(got)-1].data; !strings.Contains(last, `"type":"response.completed"`) {
		t.Fatalf("the stream ended with %s", last)
	}

	cs := calls(t, c.Replicas[2].BaseURL, team)
	if len(cs) != 2 {
		t.Fatalf("%d calls recorded, want 2 (the reference and the continued one): %+v", len(cs), cs)
	}
	if a, b := cs[0], cs[1]; a.ID == b.ID || a.Status != "ok" || b.Status != "ok" || a.Output != b.Output || a.Usage != b.Usage || a.Usage.Estimated || a.Credits != 1 || b.Credits != 1 {
		t.Fatalf("recorded %+v and %+v; want two calls alike, ok, exact usage, 1 credit each", a, b)
	}
	if tm := adminGet(t, c.Replicas[2].BaseURL+"/admin/teams/"+team); tm["credits"] != float64(3) {
		t.Fatalf("team %v; want 3 credits left", tm)
	}
}
