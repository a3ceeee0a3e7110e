package ollama

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

// Streamed calls send long bodies through the pool (their buffers go back
// once sent) with one header map per provider: concurrent calls, each
// with a prompt of its own, send each its own bytes and headers.
func TestProviderSendsEachBodyWholeThroughThePool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body ChatRequest
		err := json.NewDecoder(r.Body).Decode(&body)
		text := "wrong body"
		if m := body.Messages; err == nil && len(m) == 1 && m[0].Content == strings.Repeat(r.Header.Get("X-Letter"), 9000) &&
			r.Header.Get("Accept") == "application/x-ndjson" {
			text = "ok"
		}
		io.WriteString(w, `{"message":{"role":"assistant","content":"`+text+`"},"done":true}`+"\n")
	}))
	defer srv.Close()
	dialecttest.LongPrompts(t, func(c string, _ int) stream.Provider {
		return NewProvider(Config{BaseURL: srv.URL, Header: http.Header{"X-Letter": {c}}})
	}, "ok")
}
