package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/stream"
)

// downStore is a store whose reservations fail, once down is set, with
// an error naming where it is, as a driver's would.
type downStore struct {
	*sqldb.Store
	down atomic.Bool
}

func (d *downStore) Reserve(ctx context.Context, r account.Reservation) error {
	if d.down.Load() {
		return errors.New("dial tcp 10.1.2.3:5432: i/o timeout")
	}
	return d.Store.Reserve(ctx, r)
}

// keyed admits every call as the caller of key (the API's auth middleware
// does so in the server).
type keyed struct {
	s  *account.Service
	id account.Identity
}

func (k keyed) Admit(ctx context.Context, req *stream.Request) (gateway.Admission, error) {
	return k.s.Admit(account.NewContext(ctx, k.id), req)
}

// A call refused because the accounting store failed is a 503 with
// Retry-After in every dialect's own shape (an error frame on the
// WebSocket), saying the accounting store is unavailable and nothing of
// where it is: the account layer classifies it once, and the dialects
// map the code.
func TestStoreDownIs503InEveryDialect(t *testing.T) {
	ctx := context.Background()
	st := &downStore{Store: storetest.Open(t, "sqlite")}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := account.New(st, account.Config{Auth: true, Logger: log})
	defer svc.Close()
	tm, err := svc.CreateTeam(ctx, "acme", 100)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := svc.CreateKey(ctx, tm.ID, "", account.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	id, e := svc.Authenticate(ctx, key)
	if e != nil {
		t.Fatal(e)
	}
	st.down.Store(true)
	gw := gateway.New(gateway.Options{Router: oneRoute{heldUpstreams[0].provider("http://127.0.0.1:1", http.DefaultClient)}, Accountant: keyed{svc, id}})
	ts := httptest.NewServer(server.New(server.Options{Logger: log, Dialects: server.Dialects(gw, server.DialectOptions{Logger: log})}))
	defer ts.Close()

	check := func(name, body string) {
		t.Helper()
		if !strings.Contains(body, "accounting store is unavailable") || strings.Contains(body, "10.1.2.3") || strings.Contains(body, "tcp") {
			t.Errorf("%s: body %q, want the accounting store named unavailable and no address", name, body)
		}
	}
	for _, c := range []struct{ name, path, body string }{
		{"openai", "/v1/chat/completions", heldChat},
		{"anthropic", "/v1/messages", heldChat},
		{"ollama", "/api/chat", heldChat},
		{"native", "/api/v1/inference/stream", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
	} {
		resp, err := http.Post(ts.URL+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d, Retry-After %q: %s; want a 503 with Retry-After", c.name, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
		check(c.name, string(b))
	}
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"chat","id":"a","model":"m","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"code":"unavailable"`) {
		t.Errorf("websocket: %s, %v; want an error frame with code unavailable", b, err)
	}
	check("websocket", string(b))
}
