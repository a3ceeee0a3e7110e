package openai

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// A base URL's path, query and trailing slash reach every request: the
// path before the API's, the query after it.
func TestProviderBaseURLs(t *testing.T) {
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.RequestURI)
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"object":"list","data":[]}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}))
	defer ts.Close()
	for _, tt := range []struct{ base, prefix, query string }{
		{ts.URL, "", ""},
		{ts.URL + "/v1/", "/v1", ""},
		{ts.URL + "/v1?key=k&x=1", "/v1", "?key=k&x=1"},
		{ts.URL + "/a/b//?key=k#frag", "/a/b", "?key=k"},
	} {
		got = nil
		p := NewProvider(Config{BaseURL: tt.base, HTTPClient: http.DefaultClient})
		for _, req := range []*stream.Request{
			{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}},
			{Model: "m", Prompt: "hi", RawPrompt: true},
		} {
			s, err := p.Stream(context.Background(), req)
			if err != nil {
				t.Fatalf("%s: %v", tt.base, err)
			}
			if _, err := dialecttest.ReadAll(s); err != nil {
				t.Fatalf("%s: %v", tt.base, err)
			}
		}
		if _, err := p.Models(context.Background()); err != nil {
			t.Fatalf("%s: models: %v", tt.base, err)
		}
		want := []string{"POST " + tt.prefix + "/chat/completions" + tt.query, "POST " + tt.prefix + "/completions" + tt.query, "GET " + tt.prefix + "/models" + tt.query}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("base %s: requests %q, want %q", tt.base, got, want)
		}
	}
}
