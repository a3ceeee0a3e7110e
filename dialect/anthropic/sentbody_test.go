package anthropic

import (
	"compress/gzip"
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

// The provider asks for gzip in the transport's place, once, and reads a
// gzip answer (events and an error body) as the transport would; a
// transport that does not ask is not made to.
func TestProviderAsksForGzipInTheTransportsPlace(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.Header.Values("Accept-Encoding")
		if len(asked) == 0 {
			http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"no gzip"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		defer zw.Close()
		if strings.Contains(r.Header.Get("X-Api-Key"), "refuse") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(zw, `{"type":"error","error":{"type":"invalid_request_error","message":"compressed refusal"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(zw, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"+
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"unzipped\"}}\n\n"+
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n"+
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	}))
	defer srv.Close()
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hi"}}}
	s, err := NewProvider(Config{BaseURL: srv.URL}).Stream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	res := stream.Collect(s)
	if res.Err != nil || res.Text != "unzipped" || len(asked) != 1 || asked[0] != "gzip" {
		t.Fatalf("%q, %v; Accept-Encoding sent: %q", res.Text, res.Err, asked)
	}
	_, err = NewProvider(Config{BaseURL: srv.URL, APIKey: "refuse"}).Stream(t.Context(), req)
	if err == nil || !strings.Contains(err.Error(), "compressed refusal") {
		t.Fatalf("error answer read as %v", err)
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	_, err = NewProvider(Config{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tr}}).Stream(t.Context(), req)
	if err == nil || !strings.Contains(err.Error(), "no gzip") || len(asked) != 0 {
		t.Fatalf("asked %q, answered %v; want no Accept-Encoding", asked, err)
	}
}
