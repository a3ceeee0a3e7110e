package websocket

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/native"
)

// A stream token is good for a connection until it expires; then the
// upgrade is refused with a 401 whose body is an error frame.
func TestTokenExpires(t *testing.T) {
	tokens := native.NewTokens([]byte("test secret"), time.Second)
	gw := &dialecttest.Gateway{Events: script}
	ts := dialecttest.Serve(t, NewServer(gw, Options{Token: func(ctx context.Context, tok string) (context.Context, error) {
		_, err := tokens.Verify(tok)
		return ctx, err
	}}).Register)
	tok, exp := tokens.Issue("admin")
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws/chat?token=" + url.QueryEscape(tok)

	c, _, err := websocket.Dial(context.Background(), u, nil)
	if err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	send(t, c, `{"type":"chat","id":"a","model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if got := readUntilDone(t, c, 1); !strings.HasPrefix(got[len(got)-1], `{"type":"done"`) {
		t.Fatalf("frames: %v", got)
	}
	c.CloseNow()

	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	resp, err := http.Get(ts.URL + "/ws/chat?token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"type":"error","error":{"code":"unauthorized","message":"invalid or expired stream token; get a new one from POST /api/v1/stream-tokens","param":"token"}}`
	if resp.StatusCode != http.StatusUnauthorized || string(body) != want {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}
}

// Without a Token verifier, ?token= is refused rather than ignored: the
// auth middleware lets such requests through unchecked.
func TestTokenRefusedWithoutVerifier(t *testing.T) {
	ts := dialecttest.Serve(t, NewServer(&dialecttest.Gateway{Events: script}, Options{}).Register)
	resp, err := http.Get(ts.URL + "/ws/chat?token=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
