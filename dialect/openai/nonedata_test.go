package openai

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// go-openai (github.com/sashabaranov/go-openai) reads a stream line by line
// and keeps every line that is not data: as the start of a possible error
// body; on a `data: {"error":` line it parses all it kept plus that line's
// JSON. Any id: line before a mid-stream error made that JSON invalid and
// the client reported "unexpected end of JSON input" instead of the
// server's message. With OmitEventIDs the stream carries no non-data lines
// besides the blank separators (and keep-alive comments, which only long
// silences send), as OpenAI's own streams do.
func TestStreamErrorReadableByGoOpenAI(t *testing.T) {
	srv, _ := newTestServerWith(t, Options{OmitEventIDs: true}, map[string]stream.Provider{"m": sliceProvider(
		stream.Delta("Hel"),
		stream.Delta("lo"),
		stream.ErrorEvent(&stream.Error{Code: stream.CodeUpstream, Message: "upstream went away"}),
	)})
	_, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)

	var kept []byte
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		data, isData := strings.CutPrefix(line, "data:")
		data = strings.TrimSpace(data)
		if !isData {
			kept = append(kept, line...)
			continue
		}
		if !strings.HasPrefix(data, `{"error":`) {
			continue
		}
		var e struct {
			Error struct{ Message, Code string }
		}
		if err := json.Unmarshal(append(kept, data...), &e); err != nil {
			t.Fatalf("error body as go-openai reads it: %v (kept non-data lines %q)\nstream:\n%s", err, kept, body)
		}
		if e.Error.Message != "upstream went away" || e.Error.Code != "upstream_error" {
			t.Fatalf("error = %+v", e.Error)
		}
		return
	}
	t.Fatalf("no error event in\n%s", body)
}
