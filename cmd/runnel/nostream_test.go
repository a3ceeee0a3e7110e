package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/runnel/runnel/config"
)

// A provider configured with stream: false serves whole answers only:
// every streamed endpoint refuses its models (and aliases that may route
// to them) with a 400 in its own shape pointing to the non-streaming form,
// and the non-streaming endpoints still answer.
func TestModelThatCannotStream(t *testing.T) {
	cfg := config.Default()
	err := cfg.Decode(strings.NewReader(`
providers:
  images: {type: mock, stream: false, mock: {text: "a picture"}}
  live: {type: mock}
aliases:
  pic: images/default
  either: [live/default, images/default]
`))
	if err == nil {
		err = cfg.ApplyEnv(func(string) string { return "" })
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.DataDir = t.TempDir()
	h, _, closeAll, err := newServer(context.Background(), cfg, accountOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() { ts.Close(); closeAll() })

	msgs := `"messages":[{"role":"user","content":"draw"}]`
	gen := func(service, model string) string {
		return `{"service_name":"` + service + `","model_name":"` + model + `","input":[{"type":"text","name":"input","content":"draw"}]}`
	}
	tests := []struct {
		name, path, body string
		status           int
		want             string // the whole body for 400s, a part for 200s
	}{
		{"native typed stream", "/api/v1/generate/stream", gen("images", "default"), 400,
			`{"error":{"code":"invalid_request","message":"model \"images/default\" cannot stream; use the non-streaming endpoint POST /api/v1/generate","param":"model"}}`},
		{"native typed, not streamed", "/api/v1/generate", gen("images", "default"), 200, `"content":"a picture"`},
		{"native token stream", "/api/v1/inference/stream", `{"model":"pic","prompt":"draw"}`, 400,
			`{"error":{"code":"invalid_request","message":"model \"pic\" cannot stream; use the non-streaming endpoint POST /api/v1/generate","param":"model"}}`},
		{"openai streamed", "/v1/chat/completions", `{"model":"images/default","stream":true,` + msgs + `}`, 400,
			`{"error":{"message":"model \"images/default\" cannot stream; call again with \"stream\": false","type":"invalid_request_error","param":"stream","code":"invalid_value"}}`},
		{"openai alias with a non-streaming fallback", "/v1/chat/completions", `{"model":"either","stream":true,` + msgs + `}`, 400,
			`{"error":{"message":"model \"either\" cannot stream; call again with \"stream\": false","type":"invalid_request_error","param":"stream","code":"invalid_value"}}`},
		{"openai not streamed", "/v1/chat/completions", `{"model":"images/default",` + msgs + `}`, 200, `"content":"a picture"`},
		{"openai streaming model", "/v1/chat/completions", `{"model":"live/default?text=ok","stream":true,` + msgs + `}`, 200, `data: [DONE]`},
		{"ollama streams by default", "/api/chat", `{"model":"pic",` + msgs + `}`, 400,
			`{"error":"model \"pic\" cannot stream; call again with \"stream\": false"}`},
		{"ollama not streamed", "/api/chat", `{"model":"pic","stream":false,` + msgs + `}`, 200, `"content":"a picture"`},
		{"anthropic streamed", "/v1/messages", `{"model":"pic","max_tokens":50,"stream":true,` + msgs + `}`, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"model \"pic\" cannot stream; call again without \"stream\": true"}}`},
		{"anthropic not streamed", "/v1/messages", `{"model":"pic","max_tokens":50,` + msgs + `}`, 200, `"text":"a picture"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, "POST", ts.URL+tt.path, "", tt.body)
			ok := status == tt.status && strings.Contains(body, tt.want)
			if tt.status == 400 {
				ok = status == 400 && strings.TrimSpace(body) == tt.want
			}
			if !ok {
				t.Fatalf("POST %s = %d %s\nwant %d with %s", tt.path, status, body, tt.status, tt.want)
			}
		})
	}

	t.Run("native GET stream", func(t *testing.T) {
		status, body := do(t, "GET", ts.URL+"/api/v1/inference/stream?model=images/default&prompt=draw", "", "")
		if status != 400 || !strings.Contains(body, `cannot stream; use the non-streaming endpoint POST /api/v1/generate`) {
			t.Fatalf("GET = %d %s", status, body)
		}
	})

	t.Run("websocket", func(t *testing.T) {
		ctx := context.Background()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws/chat", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		for _, m := range []string{
			`{"type":"chat","id":"p","model":"pic",` + msgs + `}`,
			`{"type":"chat","id":"q","model":"live/default?text=ok",` + msgs + `}`,
		} {
			if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		var frames []string
		for len(frames) < 3 {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, string(b))
		}
		want := `{"type":"error","id":"p","error":{"code":"invalid_request","message":"model \"pic\" cannot stream; use POST /api/v1/generate","param":"stream"}}`
		if frames[0] != want || frames[1] != `{"type":"token","id":"q","text":"ok"}` || !strings.HasPrefix(frames[2], `{"type":"done","id":"q"`) {
			t.Fatalf("frames:\n%s\nwant first %s", strings.Join(frames, "\n"), want)
		}
	})
}
