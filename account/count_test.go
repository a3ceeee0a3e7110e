package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/redislimit"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/stream"
)

// rateLimited returns err's message if it is a rate_limited error with a
// Retry-After, or fails t.
func rateLimited(t *testing.T, what string, err error) string {
	t.Helper()
	var e *stream.Error
	if !errors.As(err, &e) || e.Code != stream.CodeRateLimited || e.RetryAfter < time.Second || e.RetryAfter > 2*time.Minute {
		t.Fatalf("%s: %v, want rate_limited with a retry-after", what, err)
	}
	return e.Message
}

// Token counting has a request rate of its own per key and per team, at
// the calls' RPM figures: counts do not use up the call budget, calls do
// not use up the counting one, and neither is charged for the other.
// Counts are never charged nor recorded, and have no token limits.
func TestCountRateLimits(t *testing.T) {
	s, clk := newService(t, "sqlite", account.Config{Auth: true})
	ctx := context.Background()
	tm, _ := s.CreateTeam(ctx, "acme", 100)
	if _, err := s.SetTeamLimits(ctx, tm.ID, account.Limits{RPM: 3, TPM: 10}, 0); err != nil {
		t.Fatal(err)
	}
	k1, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 2})
	k2, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 2})
	c1, c2 := keyCtx(t, s, k1), keyCtx(t, s, k2)
	call := func(kctx context.Context, tokens int) error {
		a, err := s.Admit(kctx, &stream.Request{Model: "m"})
		if err == nil {
			a.Done(record(stream.Usage{PromptTokens: tokens}, "ok"))
		}
		return err
	}

	// Key 1 counts its 2 a minute; the third is refused, naming the limit.
	for i := range 2 {
		if err := s.AdmitCount(c1); err != nil {
			t.Fatalf("count %d: %v", i, err)
		}
	}
	if msg := rateLimited(t, "third count", s.AdmitCount(c1)); !strings.HasPrefix(msg, "key token-counting rate limit of 2 requests per minute reached; retry in ") {
		t.Fatalf("third count: %q", msg)
	}
	// Its calls are untouched by its counts.
	if err := call(c1, 20); err != nil { // past the team's 10 a minute
		t.Fatalf("call after counting: %v", err)
	}
	// The team's tokens per minute are spent now, and its calls refused;
	// counting has no token limit.
	if msg := rateLimited(t, "call over the team's TPM", call(c2, 0)); !strings.Contains(msg, "tokens per minute") {
		t.Fatalf("call over the team's TPM: %q", msg)
	}
	if err := s.AdmitCount(c2); err != nil {
		t.Fatalf("count with the team's tokens spent: %v", err)
	}
	// The team's counting limit, 3, is reached with key 2's first count.
	if msg := rateLimited(t, "team's fourth count", s.AdmitCount(c2)); !strings.HasPrefix(msg, "team token-counting rate limit of 3 requests per minute") {
		t.Fatalf("team's fourth count: %q", msg)
	}

	// A fresh window: calls use up the call budget and leave counting's.
	clk.Add(2 * time.Minute)
	for i := range 2 {
		if err := call(c1, 0); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if msg := rateLimited(t, "third call", call(c1, 0)); !strings.HasPrefix(msg, "key rate limit of 2 requests per minute") {
		t.Fatalf("third call: %q", msg)
	}
	for i := range 2 {
		if err := s.AdmitCount(c1); err != nil {
			t.Fatalf("count %d after the calls: %v", i, err)
		}
	}

	// Only the calls were charged and recorded: 3 before, 2 after.
	if got, _ := s.Team(ctx, tm.ID); got.Credits != 97 {
		t.Fatalf("credits %d, want 97: counts are free", got.Credits)
	}
	if n := calls(t, s, tm.ID); n != 3 {
		t.Fatalf("%d calls recorded, want 3", n)
	}
}

// With the Redis limiter, a key's counting limit holds across replicas,
// apart from its calls' there too.
func TestCountRateLimitsShared(t *testing.T) {
	ctx := context.Background()
	sa, sb := storetest.OpenPair(t, "sqlite")
	url, prefix := redistest.Prefix(t)
	replica := func(st *sqldb.Store) *account.Service {
		// The timeout is a deadlock guard only (see redislimit's newPair).
		l, err := redislimit.Open(ctx, url, redislimit.Options{Prefix: prefix, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		s := account.New(kept{st}, account.Config{Auth: true, Limiter: l})
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := replica(sa), replica(sb)
	tm, _ := a.CreateTeam(ctx, "acme", 10)
	key, _, _ := a.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 2})
	ca, cb := keyCtx(t, a, key), keyCtx(t, b, key)
	if err := a.AdmitCount(ca); err != nil {
		t.Fatal(err)
	}
	if err := b.AdmitCount(cb); err != nil {
		t.Fatal(err)
	}
	if msg := rateLimited(t, "third count, on A", a.AdmitCount(ca)); !strings.HasPrefix(msg, "key token-counting rate limit of 2 requests per minute") {
		t.Fatalf("third count: %q", msg)
	}
	for i, s := range []*account.Service{a, b} {
		adm, err := s.Admit([]context.Context{ca, cb}[i], &stream.Request{Model: "m"})
		if err != nil {
			t.Fatalf("call %d after the counts: %v", i, err)
		}
		adm.Done(record(stream.Usage{}, "ok"))
	}
	if _, err := b.Admit(cb, &stream.Request{Model: "m"}); !strings.HasPrefix(rateLimited(t, "third call", err), "key rate limit of 2") {
		t.Fatalf("third call: %v", err)
	}
}
