package openai

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

// chunkText joins the content (or text) of chunks and counts [DONE]s.
func chunkText(t testing.TB, evs []sse.Event) (string, int) {
	var sb strings.Builder
	done := 0
	for i, ev := range evs {
		if ev.Data == "[DONE]" {
			if i != len(evs)-1 {
				t.Errorf("[DONE] is event %d of %d", i, len(evs))
			}
			done++
			continue
		}
		var c struct {
			Choices []struct {
				Text  string
				Delta struct{ Content string }
			}
		}
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			t.Fatalf("event %q: %v", ev.Data, err)
		}
		for _, ch := range c.Choices {
			sb.WriteString(ch.Delta.Content + ch.Text)
		}
	}
	return sb.String(), done
}

func TestResume(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	// OmitEventIDs does not apply to a stream asked to be resumable.
	ts := dialecttest.Serve(t, NewServer(gw, Options{OmitEventIDs: true}).Register)
	const model = "mock/default?tokens=40&itl=2ms"
	t.Run("chat", func(t *testing.T) {
		dialecttest.CheckResume(t, dialecttest.ResumeCase{URL: ts.URL + "/v1/chat/completions", Cut: 4, Text: chunkText,
			Body: `{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`})
	})
	t.Run("completions", func(t *testing.T) {
		dialecttest.CheckResume(t, dialecttest.ResumeCase{URL: ts.URL + "/v1/completions", Cut: 6, Text: chunkText,
			Body: `{"model":"` + model + `","stream":true,"prompt":"hi"}`})
	})
}

func TestResumeCancellation(t *testing.T) {
	dialecttest.CheckResumeCancellation(t, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		func(gw *dialecttest.Gateway, r *dialect.Resumer) *httptest.Server {
			return dialecttest.Serve(t, NewServer(gw, Options{Resume: r}).Register)
		},
		func(b []byte, id string) bool {
			var er ErrorResponse
			return json.Unmarshal(b, &er) == nil && strings.Contains(er.Error.Message, id)
		})
}
