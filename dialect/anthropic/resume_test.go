package anthropic

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/sse"
)

// messageText joins the text deltas and counts message_stop events, which
// must come last.
func messageText(t testing.TB, evs []sse.Event) (string, int) {
	var sb strings.Builder
	stops := 0
	for i, ev := range evs {
		switch ev.Event {
		case "message_stop":
			if i != len(evs)-1 {
				t.Errorf("message_stop is event %d of %d", i, len(evs))
			}
			stops++
		case "content_block_delta":
			var d struct{ Delta struct{ Text string } }
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				t.Fatalf("event %q: %v", ev.Data, err)
			}
			sb.WriteString(d.Delta.Text)
		}
	}
	return sb.String(), stops
}

func TestResume(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	ts := dialecttest.Serve(t, NewServer(gw, Options{}).Register)
	dialecttest.CheckResume(t, dialecttest.ResumeCase{URL: ts.URL + "/v1/messages", Cut: 5, Text: messageText,
		Body: `{"model":"mock/default?tokens=40&itl=2ms","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`})
}

func TestResumeCancellation(t *testing.T) {
	dialecttest.CheckResumeCancellation(t, "/v1/messages", `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		func(gw *dialecttest.Gateway, r *dialect.Resumer) *httptest.Server {
			return dialecttest.Serve(t, NewServer(gw, Options{Resume: r}).Register)
		},
		func(b []byte, id string) bool {
			var er ErrorResponse
			return json.Unmarshal(b, &er) == nil && er.Error.Type == "not_found_error" && strings.Contains(er.Error.Message, id)
		})
}
