package anthropic

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
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
		if strings.HasSuffix(r.URL.Path, "/count_tokens") {
			io.WriteString(w, `{"input_tokens":3}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n"+
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":0}}\n\n"+
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	}))
	defer ts.Close()
	for _, tt := range []struct{ base, prefix, query string }{
		{ts.URL, "", ""},
		{ts.URL + "/", "", ""},
		{ts.URL + "/anthropic?key=k&x=1", "/anthropic", "?key=k&x=1"},
		{ts.URL + "/a/b//?key=k#frag", "/a/b", "?key=k"},
	} {
		got = nil
		p := NewProvider(Config{BaseURL: tt.base, APIKey: "k"})
		req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}}
		s, err := p.Stream(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", tt.base, err)
		}
		if _, err := dialecttest.ReadAll(s); err != nil {
			t.Fatalf("%s: %v", tt.base, err)
		}
		if _, err := p.CountTokens(context.Background(), req); err != nil {
			t.Fatalf("%s: count: %v", tt.base, err)
		}
		want := []string{"POST " + tt.prefix + "/v1/messages" + tt.query, "POST " + tt.prefix + "/v1/messages/count_tokens" + tt.query}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("base %s: requests %q, want %q", tt.base, got, want)
		}
	}
}
