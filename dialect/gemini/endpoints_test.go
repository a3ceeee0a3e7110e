package gemini

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// urlsSeen is an upstream answering benchAnswer (countAnswer to
// countTokens) that notes each request's URL and headers.
type urlsSeen struct {
	mu      sync.Mutex
	urls    []string
	headers []http.Header
}

const countAnswer = `{"totalTokens":3}`

func (u *urlsSeen) RoundTrip(r *http.Request) (*http.Response, error) {
	u.mu.Lock()
	u.urls = append(u.urls, r.URL.String())
	u.headers = append(u.headers, r.Header)
	u.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, ":countTokens") {
		return dialecttest.Canned{Body: []byte(countAnswer)}.RoundTrip(r)
	}
	return dialecttest.Canned{Body: []byte(benchAnswer)}.RoundTrip(r)
}

// Each model's calls go to its own URL, endpoints kept or not: past
// maxEndpoints models, calls still reach theirs, and no more are kept.
func TestStreamEndpointsBounded(t *testing.T) {
	up := &urlsSeen{}
	p := NewProvider(Config{BaseURL: "http://upstream/v1beta?key=k", HTTPClient: &http.Client{Transport: up}})
	var want []string
	for i := range maxEndpoints + 10 {
		for range 2 {
			model := "m " + strconv.Itoa(i)
			s, err := p.Stream(context.Background(), &stream.Request{Model: model, Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dialecttest.ReadAll(s); err != nil {
				t.Fatal(err)
			}
			want = append(want, "http://upstream/v1beta/models/m%20"+strconv.Itoa(i)+":streamGenerateContent?alt=sse&key=k")
		}
	}
	if len(up.urls) != len(want) {
		t.Fatalf("%d requests, want %d", len(up.urls), len(want))
	}
	for i := range want {
		if up.urls[i] != want[i] {
			t.Fatalf("request %d to %s, want %s", i, up.urls[i], want[i])
		}
	}
	kept := 0
	p.streams.m.Range(func(any, any) bool { kept++; return true })
	if kept != maxEndpoints || p.streams.n.Load() != maxEndpoints {
		t.Errorf("%d endpoints kept, counted %d; want %d", kept, p.streams.n.Load(), maxEndpoints)
	}
}

// CountTokens' endpoints are kept as the streams' are: each model's
// calls go to its own URL, with the count's headers (not a stream's
// Accept), past maxEndpoints models too, and no more are kept.
func TestCountEndpointsBounded(t *testing.T) {
	up := &urlsSeen{}
	p := NewProvider(Config{BaseURL: "http://upstream/v1beta?key=k", APIKey: "secret", HTTPClient: &http.Client{Transport: up}})
	var want []string
	for i := range maxEndpoints + 10 {
		for range 2 {
			n, err := p.CountTokens(context.Background(), &stream.Request{Model: "models/m " + strconv.Itoa(i), Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}})
			if err != nil || n != 3 {
				t.Fatal(n, err)
			}
			want = append(want, "http://upstream/v1beta/models/m%20"+strconv.Itoa(i)+":countTokens?key=k")
		}
	}
	if !reflect.DeepEqual(up.urls, want) {
		t.Fatalf("requests to %v\nwant %v", up.urls, want)
	}
	for _, h := range up.headers {
		if want := (http.Header{"Content-Type": {"application/json"}, "X-Goog-Api-Key": {"secret"}}); !reflect.DeepEqual(h, want) {
			t.Fatalf("headers %v, want %v", h, want)
		}
	}
	kept := 0
	p.counts.m.Range(func(any, any) bool { kept++; return true })
	if kept != maxEndpoints || p.counts.n.Load() != maxEndpoints || p.streams.n.Load() != 0 {
		t.Errorf("%d count endpoints kept, counted %d (%d streams'); want %d", kept, p.counts.n.Load(), p.streams.n.Load(), maxEndpoints)
	}
}

// Concurrent first calls of one model share one endpoint (for -race).
func TestStreamEndpointConcurrent(t *testing.T) {
	p := NewProvider(Config{BaseURL: "http://upstream", HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: []byte(benchAnswer)}}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s, err := p.Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := dialecttest.ReadAll(s); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := p.streams.n.Load(); n != 1 {
		t.Errorf("%d endpoints counted for one model", n)
	}
}

// A base URL that does not parse is each call's error, not a panic.
func TestStreamBadBaseURL(t *testing.T) {
	p := NewProvider(Config{BaseURL: "http://[::1"})
	if _, err := p.Stream(context.Background(), &stream.Request{Model: "m", Prompt: "hi"}); err == nil {
		t.Fatal("a bad base URL streamed")
	}
	if _, err := p.CountTokens(context.Background(), &stream.Request{Model: "m", Prompt: "hi"}); err == nil {
		t.Fatal("a bad base URL counted")
	}
}
