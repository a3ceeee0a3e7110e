package redislimit

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/account"
)

// hangingRedis accepts connections and never answers, as a Redis behind a
// dead network path would; it counts the connections.
func hangingRedis(t *testing.T) (addr string, accepted func() int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }
}

// With Redis unreachable, one request finds out (within the short
// timeout); the ones after it do not ask Redis at all until the cooldown
// has passed, and get the configured mode: admitted (open) or a 503-kind
// LimitError (closed). The state shows in Status.
func TestRedisDown(t *testing.T) {
	scopes := []account.Scope{{ID: "key:k", Name: "key", Limits: account.Limits{RPM: 1}}}
	for _, closed := range []bool{false, true} {
		name := map[bool]string{false: "fail-open", true: "fail-closed"}[closed]
		t.Run(name, func(t *testing.T) {
			addr, accepted := hangingRedis(t)
			rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 50 * time.Millisecond,
				ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond, MaxRetries: -1})
			l := New(rdb, Options{FailClosed: closed, Cooldown: time.Hour, Logger: slog.New(slog.DiscardHandler)})
			defer l.Close()
			if st := l.Status(); st.Backend != "redis" || st.State != "up" || st.FailOpen == closed {
				t.Fatalf("status before: %+v", st)
			}
			check := func(i int) {
				_, lerr := l.Admit(context.Background(), time.Now(), scopes)
				if closed != (lerr != nil) || (lerr != nil && !lerr.Unavailable) {
					t.Fatalf("request %d: %+v, want refused=%v", i, lerr, closed)
				}
			}
			check(0)
			if st := l.Status(); st.State != "down" || l.Failures() != 1 {
				t.Fatalf("status after a timeout: %+v, %d failures", st, l.Failures())
			}
			n := accepted()
			for i := 1; i <= 100; i++ { // a rate limit of 1 RPM would refuse these
				check(i)
			}
			l.AddTokens(context.Background(), time.Now(), scopes, 10)
			if got := accepted(); got != n || l.Failures() != 1 {
				t.Fatalf("Redis was asked during the cooldown: %d connections (was %d), %d failures", got, n, l.Failures())
			}
		})
	}
}

// After the cooldown one request probes Redis; when it answers, limits
// are shared again.
func TestRedisRecovers(t *testing.T) {
	l, _ := newPair(t)
	l.log = slog.New(slog.DiscardHandler)
	l.result(errors.New("connection refused"))
	if l.Status().State != "down" {
		t.Fatal("not down after a failure")
	}
	l.mu.Lock()
	l.downUntil = time.Now().Add(-time.Millisecond) // the cooldown has passed
	l.mu.Unlock()
	scopes := []account.Scope{{ID: "key:r", Name: "key", Limits: account.Limits{RPM: 1}}}
	if _, lerr := l.Admit(context.Background(), time.Now(), scopes); lerr != nil {
		t.Fatalf("probe: %+v", lerr)
	}
	if l.Status().State != "up" {
		t.Fatalf("status after a good probe: %+v", l.Status())
	}
	if _, lerr := l.Admit(context.Background(), time.Now(), scopes); lerr == nil || lerr.Unavailable {
		t.Fatalf("the second request within 1 RPM: %+v, want the rate limit", lerr)
	}
}

// A Redis that does not answer at start leaves the limiter down, not the
// server unstarted.
func TestOpenWhileRedisIsDown(t *testing.T) {
	addr, _ := hangingRedis(t)
	l, err := Open(context.Background(), "redis://"+addr+"/0", Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if st := l.Status(); st.State != "down" || !st.FailOpen {
		t.Fatalf("status: %+v, want down, failing open", st)
	}
	if _, err := Open(context.Background(), "http://not-redis", Options{}); err == nil || strings.Contains(err.Error(), "not-redis") {
		t.Fatalf("a malformed URL: %v, want an error that does not echo it", err)
	}
}
