package gemini

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

// Streamed calls send long bodies through the pool with one header map
// per provider that asks for gzip in the transport's place: concurrent
// calls, each with a prompt of its own, send each its own bytes and
// headers, and a gzip answer reads as the transport would read it.
func TestProviderSendsEachBodyWholeThroughThePool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body Request
		err := json.NewDecoder(r.Body).Decode(&body)
		text := "wrong body"
		if c := body.Contents; err == nil && len(c) == 1 && len(c[0].Parts) == 1 &&
			c[0].Parts[0].Text == strings.Repeat(r.Header.Get("X-Goog-Api-Key"), 9000) && r.Header.Get("Accept") == "text/event-stream" {
			text = "ok"
		}
		w.Header().Set("Content-Type", "text/event-stream")
		out := io.Writer(w)
		if r.Header.Get("Accept-Encoding") == "gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			defer zw.Close()
			out = zw
		}
		io.WriteString(out, `data: {"candidates":[{"content":{"parts":[{"text":"`+text+`"}]},"finishReason":"STOP","index":0}]}`+"\r\n\r\n")
	}))
	defer srv.Close()
	dialecttest.LongPrompts(t, func(c string, _ int) stream.Provider {
		return NewProvider(Config{BaseURL: srv.URL, APIKey: c})
	}, "ok")
	if p := NewProvider(Config{BaseURL: srv.URL}); !p.gzip || p.streams.header.Get("Accept-Encoding") != "gzip" {
		t.Error("the provider does not ask for gzip in the transport's place")
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	if p := NewProvider(Config{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tr}}); p.gzip || p.streams.header.Get("Accept-Encoding") != "" {
		t.Error("the provider asks for gzip where its transport does not")
	}
}
