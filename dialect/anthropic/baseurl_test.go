package anthropic

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// A base URL's path, query and trailing slash reach every request: the
// path before the API's, the query after it.
func TestProviderBaseURLs(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/count_tokens") {
			io.WriteString(w, `{"input_tokens":3}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n"+
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":0}}\n\n"+
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	}
	dialecttest.BaseURLs(t, answer, func(base string) error {
		p := NewProvider(Config{BaseURL: base, APIKey: "k"})
		req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}}
		s, err := p.Stream(context.Background(), req)
		if err != nil {
			return err
		}
		if _, err := dialecttest.ReadAll(s); err != nil {
			return err
		}
		_, err = p.CountTokens(context.Background(), req)
		return err
	}, []string{"POST /v1/messages", "POST /v1/messages/count_tokens"})
}
