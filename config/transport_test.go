package config_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/stream"
)

// An upstream whose connection fails, before the answer (nothing listens)
// or in the middle of it (the connection is reset), reaches the client as
// a clean message naming the provider, without the addresses and ports
// of the network error; on every upstream dialect.
func TestTransportErrorsNameTheProvider(t *testing.T) {
	// cut answers with headers and a first partial line, then resets the
	// connection.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		ct := "text/event-stream"
		if strings.HasPrefix(r.URL.Path, "/api/") {
			ct = "application/x-ndjson"
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + ct + "\r\n\r\ndata: {\"partial")
		buf.Flush()
		conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
		conn.Close()
	}))
	defer cut.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // nothing listens there now

	for _, typ := range []string{config.TypeOpenAI, config.TypeOllama, config.TypeAnthropic, config.TypeGemini} {
		for name, base := range map[string]string{"refused": closedURL, "reset": cut.URL} {
			t.Run(typ+"/"+name, func(t *testing.T) {
				if typ == config.TypeOpenAI {
					base += "/v1"
				}
				c := config.Default()
				c.Providers = map[string]config.Provider{"up": {Type: typ, BaseURL: base, APIKey: "k"}}
				providers, err := c.BuildProviders(func(string) string { return "" }, nil)
				if err != nil {
					t.Fatal(err)
				}
				req := &stream.Request{Model: "m", Sampling: stream.Sampling{MaxTokens: 5}, Messages: []stream.Message{{Role: "user", Content: "hi"}}}
				s, err := providers["up"].Stream(context.Background(), req)
				var e *stream.Error
				if err == nil {
					defer s.Close()
					for {
						ev, rerr := s.Recv()
						if rerr != nil {
							if !errors.As(rerr, &e) {
								t.Fatalf("Recv: %v", rerr)
							}
							break
						}
						if ev.Kind == stream.KindError {
							e = ev.Err
							break
						}
						if ev.Kind == stream.KindFinish {
							t.Fatalf("the stream finished: %v", ev)
						}
					}
				} else if !errors.As(err, &e) {
					t.Fatalf("Stream: %v", err)
				}
				if e.Code != stream.CodeUpstream || !strings.Contains(e.Message, "provider up: ") ||
					strings.Contains(e.Message, "127.0.0.1") || strings.Contains(e.Message, "tcp") {
					t.Fatalf("error %q (%s), want a clean message naming provider up", e.Message, e.Code)
				}
				if e.Err == nil {
					t.Error("the detail is lost: Err is nil")
				}
			})
		}
	}
}
