package cluster_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/testmodels"
)

// streamed is what a client read of an OpenAI stream: the text, the call
// id, the finish reason, the usage chunk's tokens and whether [DONE] came.
type streamed struct {
	text, call, finish string
	in, out            float64
	done               bool
}

func readStream(evs []sseEvent) streamed {
	var s streamed
	for _, e := range evs {
		if e.data == nil {
			s.done = true
			continue
		}
		if id, _ := e.data["id"].(string); s.call == "" {
			s.call = id
		}
		if u, ok := e.data["usage"].(map[string]any); ok {
			s.in, _ = u["prompt_tokens"].(float64)
			s.out, _ = u["completion_tokens"].(float64)
		}
		for _, c := range asSlice(e.data["choices"]) {
			c, _ := c.(map[string]any)
			if d, ok := c["delta"].(map[string]any); ok {
				t, _ := d["content"].(string)
				s.text += t
			}
			if f, ok := c["finish_reason"].(string); ok {
				s.finish = f
			}
		}
	}
	return s
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// The engine continues a stream whose replica died: stories260K at
// temperature 0, killed after a few events, resumed on another replica,
// reads as the uninterrupted run (the same text, nothing lost or repeated
// at the seam, the same usage, consecutive event ids, one call), and the
// call is recorded once with the whole answer's usage and charged once.
//
// The engine writes this answer in tens of milliseconds, so the kill can
// come after the whole answer was logged; then the resume only replays
// it, and the test tries again on a restarted replica. It fails if no
// attempt was continued.
func TestEngineReplicaDiesContinued(t *testing.T) {
	t.Setenv("RUNNEL_MODELS", testmodels.Dir(t)) // skips without ../shared/models
	const credits = 100
	c, team, key := paidCluster(t, "", credits)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	body := `{"model":"stories260K","stream":true,"temperature":0,"max_tokens":2000,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

	resp := post(t, ctx, c.Replicas[2].BaseURL, key, body, true, "")
	want := readStream(readEvents(t, resp.Body, 0))
	resp.Body.Close()
	if want.finish != "stop" || !want.done || want.out < 50 {
		t.Fatalf("the uninterrupted run: %+v", want)
	}

	const attempts = 5
	var got streamed
	var evs []sseEvent
	for try := 1; ; try++ {
		if try > 1 {
			c.Replicas[0].Restart(t)
		}
		resp = post(t, ctx, c.Replicas[0].BaseURL, key, body, true, "")
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("the call: %d %s", resp.StatusCode, b)
		}
		evs = readEvents(t, resp.Body, 3)
		c.Replicas[0].Kill()
		resp.Body.Close()
		logs := len(c.Replicas[1].Logs())
		resp = post(t, ctx, c.Replicas[1].BaseURL, key, body, false, evs[len(evs)-1].id)
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("resume after the kill: %d %s", resp.StatusCode, b)
		}
		evs = append(evs, readEvents(t, resp.Body, 0)...)
		resp.Body.Close()
		got = readStream(evs)
		if strings.Contains(c.Replicas[1].Logs()[logs:], "continuing it here") {
			t.Logf("continued on attempt %d", try)
			break
		}
		if try == attempts {
			t.Fatalf("in %d attempts the kill never came before the whole answer was logged; replica 1:\n%s", attempts, c.Replicas[1].Logs())
		}
	}

	if got.text != want.text || got.finish != "stop" || !got.done || got.in != want.in || got.out != want.out {
		t.Fatalf("interrupted and continued, the client read %+v\nwant, as uninterrupted, %+v", got, want)
	}
	streamID, _, _ := strings.Cut(evs[0].id, "-")
	for i, e := range evs {
		if e.id != fmt.Sprintf("%s-%d", streamID, i+1) {
			t.Fatalf("event %d has id %q, want %s-%d", i, e.id, streamID, i+1)
		}
		if e.data != nil && e.data["id"] != got.call {
			t.Fatalf("event %d is of call %v, want %v", i, e.data["id"], got.call)
		}
	}

	var spent int64
	n := 0
	for _, rc := range calls(t, c.Replicas[2].BaseURL, team) {
		spent += rc.Credits
		if !strings.HasSuffix(got.call, rc.ID) {
			continue
		}
		n++
		if rc.Status != "ok" || rc.Output != want.text || rc.Usage.In != int64(want.in) || rc.Usage.Out != int64(want.out) || rc.Usage.Estimated || rc.Credits < 1 {
			t.Fatalf("recorded %+v; want ok, the whole answer, %v+%v exact tokens, charged", rc, want.in, want.out)
		}
	}
	if n != 1 {
		t.Fatalf("the continued call %s is recorded %d times, want once", got.call, n)
	}
	if tm := adminGet(t, c.Replicas[2].BaseURL+"/admin/teams/"+team); tm["credits"] != float64(credits-spent) {
		t.Fatalf("team %v; want %d credits left after %d spent", tm, credits-spent, spent)
	}
}
