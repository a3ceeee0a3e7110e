package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
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
