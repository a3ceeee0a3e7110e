package dialecttest

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// BaseURLs checks that a provider's base URL reaches each of its
// requests: its path before the API's, its trailing slashes dropped, its
// query after the API path's own, its fragment dropped. For each of a
// few base URLs of an upstream answering by answer, calls makes a
// provider of that base and calls it; want is its requests, in order, as
// a bare base gives them ("POST /models/m:streamGenerateContent?alt=sse"),
// from which each base's are made.
func BaseURLs(t *testing.T, answer http.HandlerFunc, calls func(base string) error, want []string) {
	t.Helper()
	var (
		mu  sync.Mutex
		got []string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.RequestURI)
		mu.Unlock()
		answer(w, r)
	}))
	defer ts.Close()
	for _, tt := range []struct{ base, prefix, query string }{
		{"", "", ""},
		{"/", "", ""},
		{"/api/", "/api", ""},
		{"/api?key=k&x=1", "/api", "key=k&x=1"},
		{"/a/b//?key=k#frag", "/a/b", "key=k"},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		if err := calls(ts.URL + tt.base); err != nil {
			t.Fatalf("base %q: %v", tt.base, err)
		}
		var uris []string
		for _, w := range want {
			method, uri, _ := strings.Cut(w, " ")
			if tt.query != "" {
				sep := "?"
				if strings.Contains(uri, "?") {
					sep = "&"
				}
				uri += sep + tt.query
			}
			uris = append(uris, method+" "+tt.prefix+uri)
		}
		mu.Lock()
		if !reflect.DeepEqual(got, uris) {
			t.Errorf("base %q: requests %q, want %q", tt.base, got, uris)
		}
		mu.Unlock()
	}
}
