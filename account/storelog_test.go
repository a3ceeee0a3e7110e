package account_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/stream"
)

// captured is a slog handler that keeps every record's level, message
// and attributes, one line each.
type captured struct {
	mu    sync.Mutex
	lines []string
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *captured) WithGroup(string) slog.Handler            { return c }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "since" { // a time: the clock's own
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	c.mu.Lock()
	c.lines = append(c.lines, b.String())
	c.mu.Unlock()
	return nil
}

// take returns the lines logged since the last take.
func (c *captured) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lines
	c.lines = nil
	return l
}

// lookupsDown fails key lookups while down is set: an account store that
// does not answer.
type lookupsDown struct {
	kept
	down atomic.Bool
}

func (l *lookupsDown) AuthKeys(ctx context.Context, prefix string) ([]account.KeyTeam, error) {
	if l.down.Load() {
		return nil, errInjected
	}
	return l.kept.AuthKeys(ctx, prefix)
}

// A store that fails every request is logged once at its first failure,
// then at most once every 10 s with the count of failures left out, and
// once when it takes a write again; not once a request. Each request is
// still refused as the store unavailable.
func TestStoreFailuresLoggedOnce(t *testing.T) {
	ctx := context.Background()
	st := &lookupsDown{kept: kept{storetest.Open(t, "sqlite")}}
	logs := &captured{}
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	s := account.New(st, account.Config{Auth: true, Logger: slog.New(logs), Now: now})
	defer s.Close()
	tm, _ := s.CreateTeam(ctx, "acme", 100)
	key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
	// Not looked up until the second outage (a lookup is kept a second).
	key2, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
	logs.take()

	refused := func(n int, key string) {
		t.Helper()
		for range n {
			_, err := s.Authenticate(ctx, key)
			if e := stream.AsError(err); e == nil || e.Code != stream.CodeUnavailable {
				t.Fatalf("a request while the store is down: %v, want unavailable", err)
			}
		}
	}
	expect := func(when string, want ...string) {
		t.Helper()
		got := logs.take()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: logged\n%s\nwant\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	const first = "WARN account: the store failed; answering 503 err=" + "injected: the store did not answer in time"

	st.down.Store(true)
	refused(5, key)
	expect("the first 5 failures", first)
	advance(9 * time.Second)
	refused(3, key)
	expect("3 more within 10 s", nil...)
	advance(time.Second)
	refused(1, key)
	expect("one at 10 s", "WARN account: the store is still failing suppressed=8 failures=9 err=injected: the store did not answer in time")
	refused(2, key)
	advance(5 * time.Second)
	expect("2 more", nil...)

	st.down.Store(false)
	if _, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"}); err != nil {
		t.Fatal(err)
	}
	expect("a reservation stored", "INFO account: the store answers again failures=11 suppressed=2 down_for=15s")
	if _, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"}); err != nil {
		t.Fatal(err)
	}
	expect("another", nil...)

	// The next outage is logged at once again; a lone failure is one
	// line, with no recovery line after it.
	st.down.Store(true)
	refused(1, key2)
	expect("a lone failure", first)
	st.down.Store(false)
	if _, err := s.Admit(keyCtx(t, s, key2), &stream.Request{Model: "m"}); err != nil {
		t.Fatal(err)
	}
	expect("after a lone failure", nil...)
}
