package openai

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// A base URL's path, query and trailing slash reach every request: the
// path before the API's, the query after it.
func TestProviderBaseURLs(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"object":"list","data":[]}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}
	dialecttest.BaseURLs(t, answer, func(base string) error {
		p := NewProvider(Config{BaseURL: base, HTTPClient: http.DefaultClient})
		for _, req := range []*stream.Request{
			{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}},
			{Model: "m", Prompt: "hi", RawPrompt: true},
		} {
			s, err := p.Stream(context.Background(), req)
			if err != nil {
				return err
			}
			if _, err := dialecttest.ReadAll(s); err != nil {
				return err
			}
		}
		_, err := p.Models(context.Background())
		return err
	}, []string{"POST /chat/completions", "POST /completions", "GET /models"})
}
