package redislimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/internal/redistest"
)

// newPair returns two limiters sharing one Redis (REDIS_URL or the local
// one scripts/services starts) under a fresh prefix, as two servers would.
// Their timeout is a deadlock guard only: on a loaded machine a command
// took longer than the 100ms default now and then, and the limiter, down,
// admitted requests without limits (TestRedisDown covers that).
func newPair(t *testing.T) (*Limiter, *Limiter) {
	url, prefix := redistest.Prefix(t)
	o := Options{Prefix: prefix, Timeout: 30 * time.Second}
	a, err := Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Open(context.Background(), url, o)
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

func TestSharedLimits(t *testing.T) {
	a, b := newPair(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC) // half a minute in
	scopes := []account.Scope{{ID: "key:k1", Name: "key", Limits: account.Limits{RPM: 5, TPM: 100}}}
	for i := 1; i <= 5; i++ {
		l := a
		if i%2 == 0 {
			l = b
		}
		w, err := l.Admit(ctx, now, scopes)
		if err != nil {
			t.Fatalf("request %d: %+v", i, err)
		}
		if (i >= 4) != (len(w) == 1) {
			t.Fatalf("request %d warnings %q", i, w)
		}
	}
	_, err := b.Admit(ctx, now, scopes)
	if err == nil || !strings.Contains(err.What, "5 requests per minute") || err.RetryAfter != 42*time.Second {
		// All 5 are in the current minute: there is room for one more once
		// 5*(1-g) <= 4 in the next one, g = 0.2: 0.5+0.2 minutes from now.
		t.Fatalf("sixth: %+v", err)
	}
	// The refused request was taken back: 5 counted, not 6.
	minute, _ := account.Split(now)
	if n, err := a.rdb.Get(ctx, a.keys(scopes[0], minute)[0]).Int(); n != 5 || err != nil {
		t.Fatalf("counted %d %v", n, err)
	}
	// Tokens counted by one process limit the other; 100 of 100 is full.
	a.AddTokens(ctx, now, scopes, 100)
	next := now.Add(time.Minute) // previous minute: 5 requests, 100 tokens, weighted by 1-0.5
	if _, err := b.Admit(ctx, next, scopes); err != nil {
		t.Fatalf("next minute: %+v", err)
	}
	a.AddTokens(ctx, next, scopes, 60) // 50 + 60 > 100
	if _, err := b.Admit(ctx, next, scopes); err == nil || !strings.Contains(err.What, "tokens per minute") {
		t.Fatalf("tpm: %+v", err)
	}
}
