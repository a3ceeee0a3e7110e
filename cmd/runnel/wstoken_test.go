package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// With auth on, /ws/chat takes a stream token in the URL, as browsers need
// (they cannot set headers on a WebSocket); without one, or with a forged,
// malformed or keyless one, the upgrade is refused with a 401.
func TestWebSocketStreamToken(t *testing.T) {
	const admin = "admin-secret-key-0123456789"
	ts := serveTest(t, accountOptions{auth: true, adminKey: admin}, nil)
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws/chat"
	token := func(key string) string { return streamToken(t, ts.URL, key) }
	good := token(admin)

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, wsURL+"?token="+url.QueryEscape(good), nil)
	if err != nil {
		t.Fatalf("dial with a valid token: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"chat","id":"a","model":"mock/default?text=Hi%20there.","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		t.Fatal(err)
	}
	var frames []string
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, string(data))
		if strings.Contains(string(data), `"type":"done"`) || strings.Contains(string(data), `"type":"error"`) {
			break
		}
	}
	want := []string{
		`{"type":"token","id":"a","text":"Hi"}`,
		`{"type":"token","id":"a","text":" there"}`,
		`{"type":"token","id":"a","text":"."}`,
	}
	if len(frames) != 4 || strings.Join(frames[:3], "\n") != strings.Join(want, "\n") || !strings.Contains(frames[3], `"finish_reason":"stop"`) {
		t.Fatalf("frames with a valid token:\n%s", strings.Join(frames, "\n"))
	}
	c.Close(websocket.StatusNormalClosure, "")

	// Clients that can set headers still authenticate with their key.
	hc, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + admin}}})
	if err != nil {
		t.Fatalf("dial with the key in a header: %v", err)
	}
	hc.Close(websocket.StatusNormalClosure, "")

	forged := good[:len(good)-2] + "AA"
	if forged == good {
		forged = good[:len(good)-2] + "BB"
	}
	for _, tt := range []struct{ name, query, contains string }{
		{"no token", "", `"code":"unauthorized"`},
		{"forged", "?token=" + url.QueryEscape(forged), "invalid or expired stream token"},
		{"malformed", "?token=rst1.garbage", "invalid or expired stream token"},
		{"empty", "?token=", "invalid or expired stream token"},
		{"an API key is no token", "?token=" + admin, "invalid or expired stream token"},
	} {
		_, resp, err := websocket.Dial(ctx, wsURL+tt.query, nil)
		if err == nil {
			t.Fatalf("%s: the upgrade succeeded", tt.name)
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %v (response %+v), want a 401", tt.name, err, resp)
		}
		// Dial has read the body; the same request over HTTP shows it.
		status, body := do(t, "GET", ts.URL+"/ws/chat"+tt.query, "", "")
		if status != http.StatusUnauthorized || !strings.Contains(body, tt.contains) {
			t.Fatalf("%s: GET = %d %s, want 401 containing %q", tt.name, status, body, tt.contains)
		}
	}
}

// streamToken gets a stream token from POST /api/v1/stream-tokens with key.
func streamToken(t *testing.T, baseURL, key string) string {
	t.Helper()
	status, body := do(t, "POST", baseURL+"/api/v1/stream-tokens", key, "")
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); status != 200 || err != nil || tok.Token == "" {
		t.Fatalf("stream token: %d %s", status, body)
	}
	return tok.Token
}

// A stream token stands for its API key, not beside it: the key's own rate
// limit applies to the token's streams, and once the key is revoked its
// tokens stop working at once, for the native GET stream and for /ws/chat.
func TestStreamTokenFollowsItsKey(t *testing.T) {
	const admin = "admin-secret-key-0123456789"
	ts := serveTest(t, accountOptions{auth: true, adminKey: admin}, nil)
	status, body := do(t, "POST", ts.URL+"/admin/teams", admin, `{"name":"acme","credits":100}`)
	var team struct{ ID string }
	if json.Unmarshal([]byte(body), &team); status/100 != 2 || team.ID == "" {
		t.Fatalf("create team: %d %s", status, body)
	}
	status, body = do(t, "POST", ts.URL+"/admin/keys", admin, `{"team_id":"`+team.ID+`","rpm_limit":1}`)
	var k struct{ Key string }
	if json.Unmarshal([]byte(body), &k); status/100 != 2 || k.Key == "" {
		t.Fatalf("create key: %d %s", status, body)
	}
	tok := url.QueryEscape(streamToken(t, ts.URL, k.Key))
	get := ts.URL + "/api/v1/inference/stream?model=" + url.QueryEscape("mock/default?tokens=2") + "&prompt=hi&token=" + tok

	if status, body := do(t, "GET", get, "", ""); status != 200 || !strings.Contains(body, `"done":true`) {
		t.Fatalf("first stream with the token: %d %s", status, body)
	}
	// The key allows one request a minute.
	if status, body := do(t, "GET", get, "", ""); status != http.StatusTooManyRequests || !strings.Contains(body, "rate_limited") {
		t.Fatalf("second stream with the token: %d %s, want the key's 429", status, body)
	}

	if status, body := do(t, "POST", ts.URL+"/admin/keys/revoke", admin, `{"key":"`+k.Key+`"}`); status/100 != 2 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if status, body := do(t, "GET", get, "", ""); status != http.StatusUnauthorized || !strings.Contains(body, "has been revoked") {
		t.Fatalf("stream with a revoked key's token: %d %s, want 401", status, body)
	}
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws/chat?token=" + tok
	_, resp, err := websocket.Dial(context.Background(), wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/ws/chat with a revoked key's token: %v %+v, want a refused upgrade (401)", err, resp)
	}
	// Nor does a revoked key get a new token.
	if status, body := do(t, "POST", ts.URL+"/api/v1/stream-tokens", k.Key, ""); status != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Fatalf("stream token for a revoked key: %d %s, want 401", status, body)
	}
}
