package anthropic

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// Long upstream bodies come from a pool and go back to it once sent,
// with one header map per provider: concurrent calls, each with a prompt
// of its own, send each its own bytes and headers, call after call.
func TestProviderSendsEachBodyWholeThroughThePool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body MessagesRequest
		err := json.NewDecoder(r.Body).Decode(&body)
		want := strings.Repeat(r.Header.Get("X-Api-Key"), 9000)
		text := "wrong body"
		if err == nil && len(body.Messages) == 1 && r.Header.Get("Accept") == "text/event-stream" && r.Header.Get("Anthropic-Version") == DefaultVersion {
			if s := body.Messages[0].Content.text; s != nil && *s == want {
				text = "ok"
			} else if b := body.Messages[0].Content.Blocks; len(b) == 1 && b[0].Text == want {
				text = "ok"
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"+
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\""+text+"\"}}\n\n"+
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n"+
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	}))
	defer srv.Close()
	dialecttest.LongPrompts(t, func(c string, _ int) stream.Provider {
		return NewProvider(Config{BaseURL: srv.URL, APIKey: c})
	}, "ok")
}
