package openai

import (
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/stream"
)

// gzipUpstream answers with gzip when asked, flushing each event through
// the compressor, and holding the last until release is closed; it
// records the Accept-Encoding values it was sent.
func gzipUpstream(t *testing.T, status int, release <-chan struct{}, asked *[]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*asked = r.Header.Values("Accept-Encoding")
		if len(*asked) == 0 {
			http.Error(w, "no gzip", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		if status != http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			zw := gzip.NewWriter(w)
			zw.Write([]byte(`{"error":{"message":"compressed refusal","type":"invalid_request_error"}}`))
			zw.Close()
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(`data: {"id":"c","choices":[{"index":0,"delta":{"content":"first"}}]}` + "\n\n"))
		zw.Flush()
		w.(http.Flusher).Flush()
		<-release
		zw.Write([]byte(`data: {"id":"c","choices":[{"index":0,"delta":{"content":" last"},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"))
		zw.Close()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A streamed call asks for gzip once, in the transport's place, and reads
// a gzip answer as the transport would: each event as it comes, an error
// body's message whole.
func TestProviderAsksForGzipInTheTransportsPlace(t *testing.T) {
	var asked []string
	release := make(chan struct{})
	srv := gzipUpstream(t, http.StatusOK, release, &asked)
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // before the server's Close, which waits for its handler
	p := NewProvider(Config{BaseURL: srv.URL + "/v1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // deadlock guard only
	defer cancel()
	s, err := p.Stream(ctx, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := s.Recv(); err != nil || ev.Kind != stream.KindDelta || ev.Text != "first" {
		t.Fatalf("first event %+v, %v: not read before the rest was sent", ev, err)
	}
	let()
	evs := collectEvents(t, s)
	if len(evs) < 2 || evs[0].Text != " last" || evs[len(evs)-1].Finish != stream.FinishStop {
		t.Fatalf("rest of the stream: %+v", evs)
	}
	if len(asked) != 1 || asked[0] != "gzip" {
		t.Errorf("Accept-Encoding sent: %q, want one gzip", asked)
	}

	p = NewProvider(Config{BaseURL: gzipUpstream(t, http.StatusBadRequest, nil, &asked).URL + "/v1"})
	_, err = p.Stream(context.Background(), chatReq())
	var se *stream.Error
	if !errors.As(err, &se) || !strings.Contains(se.Message, "compressed refusal") {
		t.Fatalf("error answer read as %v", err)
	}
}

// A client whose transport does not ask for gzip is not made to.
func TestProviderLeavesGzipOffWhenTheTransportDoes(t *testing.T) {
	var asked []string
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	p := NewProvider(Config{BaseURL: gzipUpstream(t, http.StatusOK, nil, &asked).URL + "/v1", HTTPClient: &http.Client{Transport: tr}})
	_, err := p.Stream(context.Background(), chatReq())
	var se *stream.Error
	if !errors.As(err, &se) || len(asked) != 0 {
		t.Fatalf("asked %q, answered %v; want no Accept-Encoding and the upstream's refusal", asked, err)
	}
}
