package account_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// lookups counts a store's key lookups; the embedded store still offers
// account.Changes.
type lookups struct {
	*sqldb.Store
	n atomic.Int64
}

func (l *lookups) AuthKeys(ctx context.Context, prefix string) ([]account.KeyTeam, error) {
	l.n.Add(1)
	return l.Store.AuthKeys(ctx, prefix)
}

// Keys are looked up once and then served from memory, yet a key revoked,
// or a team topped up, by another process sharing the database (the CLI
// beside a running server) is seen by the very next request: on SQLite
// through the change marker, on PostgreSQL once its notification arrives.
func TestKeyCacheFollowsOtherProcesses(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx, st, server, cli := serverAndCLI(t, kind, account.Config{Auth: true})

			// The server's listener (PostgreSQL) is up before anything
			// changes, and the key's creation has been announced to it.
			waitVersion(ctx, t, st, func(_ uint64, ok bool) bool { return ok })
			v, _ := st.Version()
			team, err := cli.CreateTeam(ctx, "acme", 0)
			if err != nil {
				t.Fatal(err)
			}
			key, _, err := cli.CreateKey(ctx, team.ID, "", account.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			waitVersion(ctx, t, st, func(now uint64, _ bool) bool { return now != v })

			for range 3 {
				if _, e := server.Authenticate(ctx, key); e != nil {
					t.Fatal(e)
				}
			}
			if n := st.n.Load(); n != 1 {
				t.Fatalf("%d key lookups for 3 requests, want 1 (the rest from memory)", n)
			}

			// Out of credits, as cached; the CLI adds some.
			admit := func() error {
				id, e := server.Authenticate(ctx, key)
				if e != nil {
					return e
				}
				_, err := server.Admit(account.NewContext(ctx, id), &stream.Request{Model: "m"})
				return err
			}
			if err := admit(); stream.AsError(err).Code != stream.CodeInsufficientCredit {
				t.Fatalf("admit with no credits: %v", err)
			}
			v, _ = st.Version()
			if _, err := cli.AddCredits(ctx, team.ID, 5); err != nil {
				t.Fatal(err)
			}
			waitVersion(ctx, t, st, func(now uint64, _ bool) bool { return now != v })
			if err := admit(); err != nil {
				t.Fatalf("admit after the CLI added credits: %v", err)
			}

			v, _ = st.Version()
			if _, err := cli.RevokeKey(ctx, key); err != nil {
				t.Fatal(err)
			}
			waitVersion(ctx, t, st, func(now uint64, _ bool) bool { return now != v })
			if _, e := server.Authenticate(ctx, key); e == nil || e.Code != stream.CodeUnauthorized {
				t.Fatalf("a key revoked by another process authenticated: %v", e)
			}
		})
	}
}

// serverAndCLI is two services of cfg on one database of kind, as a
// server and the CLI beside it, the server's store counting its key
// lookups, and a context that ends a test that would hang.
func serverAndCLI(t *testing.T, kind string, cfg account.Config) (ctx context.Context, st *viewDown, server, cli *account.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // deadlock guard
	t.Cleanup(cancel)
	sa, sb := storetest.OpenPair(t, kind)
	st = &viewDown{lookups: lookups{Store: sa}}
	server = account.New(st, cfg)
	t.Cleanup(func() { server.Close() })
	cli = account.New(sb, cfg)
	t.Cleanup(func() { cli.Close() })
	return ctx, st, server, cli
}

// waitVersion waits until the store's change version satisfies done. On
// SQLite the marker is read on the spot, so it holds at once; PostgreSQL's
// notifications arrive asynchronously.
func waitVersion(ctx context.Context, t *testing.T, st account.Changes, done func(v uint64, ok bool) bool) {
	t.Helper()
	for !done(st.Version()) {
		select {
		case <-ctx.Done():
			t.Fatal("the change was never seen")
		case <-time.After(time.Millisecond):
		}
	}
}

// gatedLookups holds each key lookup until gate is closed, and fails the
// first one when failFirst is set.
type gatedLookups struct {
	*sqldb.Store
	n         atomic.Int64
	gate      chan struct{}
	failFirst bool
}

func (g *gatedLookups) AuthKeys(ctx context.Context, prefix string) ([]account.KeyTeam, error) {
	n := g.n.Add(1)
	<-g.gate
	if g.failFirst && n == 1 {
		return nil, errors.New("lookup failed")
	}
	return g.Store.AuthKeys(ctx, prefix)
}

// lookupWaiters counts the goroutines that wait for a key lookup in
// flight (in keyCache.lookup, on its done channel; not the lookup's own,
// which waits in gatedLookups).
func lookupWaiters() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[chan receive") && strings.Contains(g, "account.(*keyCache).lookup(") && !strings.Contains(g, "gatedLookups") {
			n++
		}
	}
	return n
}

// Requests that miss the cache while a lookup of their key is in flight
// wait for it rather than each reading the store: a wave of requests
// costs one lookup. If that lookup fails, so do the requests waiting for
// it, as the store unavailable (a 503), without reading the store again:
// each read again after the wait, so that a wave waited twice as long
// for a slow store.
func TestKeyLookupsShared(t *testing.T) {
	for _, kind := range storetest.Backends {
		for _, fail := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fail=%v", kind, fail), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // deadlock guard
				defer cancel()
				st := &gatedLookups{Store: storetest.Open(t, kind), gate: make(chan struct{}), failFirst: fail}
				close(st.gate)
				svc := account.New(st, account.Config{Auth: true})
				defer svc.Close()
				waitVersion(ctx, t, st, func(_ uint64, ok bool) bool { return ok })
				v, _ := st.Version()
				team, err := svc.CreateTeam(ctx, "acme", 0)
				if err != nil {
					t.Fatal(err)
				}
				key, _, err := svc.CreateKey(ctx, team.ID, "", account.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				// The key's announcement heard (PostgreSQL: asynchronously),
				// so no version changes while the wave is served.
				waitVersion(ctx, t, st, func(now uint64, _ bool) bool { return now != v })

				st.gate = make(chan struct{})
				st.n.Store(0)
				const wave = 8
				errs := make(chan *stream.Error, wave)
				first := make(chan *stream.Error, 1)
				go func() {
					_, e := svc.Authenticate(ctx, key)
					first <- e
				}()
				for st.n.Load() == 0 {
					time.Sleep(time.Millisecond)
				}
				for range wave - 1 {
					go func() {
						_, e := svc.Authenticate(ctx, key)
						errs <- e
					}()
				}
				// The wave waits for the lookup before it ends: after a
				// sleep of 100 ms instead, a loaded machine could start a
				// request of it late, to find the failed lookup gone and
				// read the store itself.
				for lookupWaiters() != wave-1 {
					select {
					case <-ctx.Done():
						t.Fatalf("%d requests wait for the lookup in flight, want %d", lookupWaiters(), wave-1)
					case <-time.After(time.Millisecond):
					}
				}
				close(st.gate)
				if e := <-first; fail != (e != nil) || fail && e.Code != stream.CodeUnavailable {
					t.Fatalf("the lookup's own request: %v (its lookup failing: %v)", e, fail)
				}
				for range wave - 1 {
					if e := <-errs; fail != (e != nil) || fail && e.Code != stream.CodeUnavailable {
						t.Fatalf("a request waiting for the lookup: %v (its lookup failing: %v)", e, fail)
					}
				}
				if n := st.n.Load(); n != 1 {
					t.Fatalf("%d key lookups for a wave of %d requests, want 1", n, wave)
				}
			})
		}
	}
}

// A key verified once is compared as it was sent, not hashed again: the
// same key keeps passing, and any other string with its lookup prefix
// (a changed character, a longer or shorter one) keeps failing.
func TestVerifiedKeyCompared(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, kind)
			listening(t, st)
			svc := account.New(st, account.Config{Auth: true})
			defer svc.Close()
			team, _ := svc.CreateTeam(ctx, "acme", 0)
			var key string
			heard(t, func() { key, _, _ = svc.CreateKey(ctx, team.ID, "", account.Limits{}) }, st)
			other := key[:len(key)-1] + string(rune(key[len(key)-1]^1)) // its last character changed
			for range 3 {
				if id, e := svc.Authenticate(ctx, key); e != nil || id.TeamID != team.ID {
					t.Fatalf("the key: %+v, %v", id, e)
				}
				for _, bad := range []string{other, key + "a", key[:len(key)-1]} {
					if _, e := svc.Authenticate(ctx, bad); e == nil || e.Code != stream.CodeUnauthorized {
						t.Fatalf("%q (the key is %q) authenticated: %v", bad, key, e)
					}
				}
			}
		})
	}
}

// viewDown is a store whose change view can be taken down, as a lost
// PostgreSQL listener's is.
type viewDown struct {
	lookups
	down atomic.Bool
}

func (v *viewDown) Version() (uint64, bool) {
	n, ok := v.lookups.Version()
	return n, ok && !v.down.Load()
}

// While the change view is up, a key lookup serves for longer than a
// second (keyTTL), yet a revocation, a removal of credits or a budget set
// by another process is seen by the very next request; a team with a
// budget, or any team while the view is down, has its keys read again
// within a second.
func TestKeyLookupsKeptLonger(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx, st, server, cli := serverAndCLI(t, kind, account.Config{Auth: true, CreditBlocks: true})
			waitVersion(ctx, t, st, func(_ uint64, ok bool) bool { return ok })

			// changed runs f on the CLI's side and waits until the
			// server's view has seen it.
			changed := func(f func() error) {
				t.Helper()
				v, _ := st.Version()
				if err := f(); err != nil {
					t.Fatal(err)
				}
				waitVersion(ctx, t, st, func(now uint64, _ bool) bool { return now != v })
			}
			var team account.Team
			var key string
			changed(func() (err error) {
				if team, err = cli.CreateTeam(ctx, "acme", 1000); err != nil {
					return err
				}
				key, _, err = cli.CreateKey(ctx, team.ID, "", account.Limits{})
				return err
			})
			admit := func() (gateway.Admission, error) {
				id, e := server.Authenticate(ctx, key)
				if e != nil {
					return nil, e
				}
				return server.Admit(account.NewContext(ctx, id), &stream.Request{Model: "m"})
			}
			done := func(a gateway.Admission) { a.Done(&gateway.Record{Status: "ok"}) }
			a, err := admit()
			if err != nil {
				t.Fatal(err)
			}
			done(a)
			time.Sleep(account.SnapshotTTL + 300*time.Millisecond)
			if a, err = admit(); err != nil {
				t.Fatal(err)
			}
			done(a)
			if n := st.n.Load(); n != 1 {
				t.Fatalf("%d key lookups in %v, want 1 (served from memory past a second)", n, account.SnapshotTTL+300*time.Millisecond)
			}

			// A budget set elsewhere applies to the next call: a
			// reservation of its own, not a share of the open block.
			changed(func() error { _, err := cli.SetTeamLimits(ctx, team.ID, account.Limits{}, 100); return err })
			if a, err = admit(); err != nil {
				t.Fatal(err)
			}
			if account.ReservationOf(a) == "" || account.BlockOf(a) != "" {
				t.Fatalf("a call after a budget was set: reservation %q, block %q; want a reservation", account.ReservationOf(a), account.BlockOf(a))
			}
			done(a)
			// A budget team's lookup serves a second at most.
			n := st.n.Load()
			time.Sleep(account.SnapshotTTL + 300*time.Millisecond)
			if a, err = admit(); err != nil {
				t.Fatal(err)
			}
			done(a)
			if got := st.n.Load() - n; got != 1 {
				t.Fatalf("%d key lookups for a budget team's call past a second, want 1", got)
			}

			// Credits taken away elsewhere: the next call is refused.
			changed(func() error { _, err := cli.SetTeamLimits(ctx, team.ID, account.Limits{}, 0); return err })
			if a, err = admit(); err != nil {
				t.Fatal(err)
			}
			done(a)
			changed(func() error {
				t, err := cli.Team(ctx, team.ID)
				if err != nil {
					return err
				}
				_, err = cli.AddCredits(ctx, team.ID, -t.Credits)
				return err
			})
			if _, err := admit(); stream.AsError(err).Code != stream.CodeInsufficientCredit {
				t.Fatalf("a call after the credits were taken away: %v", err)
			}
			changed(func() error { _, err := cli.AddCredits(ctx, team.ID, 1000); return err })

			// A revocation elsewhere: the next request is refused.
			changed(func() error { _, err := cli.RevokeKey(ctx, key); return err })
			if _, e := server.Authenticate(ctx, key); e == nil || e.Code != stream.CodeUnauthorized {
				t.Fatalf("a key revoked by another process authenticated: %v", e)
			}

			// With the view down nothing is served from memory.
			key2 := ""
			changed(func() (err error) { key2, _, err = cli.CreateKey(ctx, team.ID, "", account.Limits{}); return err })
			st.down.Store(true)
			n = st.n.Load()
			for range 3 {
				if _, e := server.Authenticate(ctx, key2); e != nil {
					t.Fatal(e)
				}
			}
			if got := st.n.Load() - n; got != 3 {
				t.Fatalf("%d key lookups for 3 requests with the change view down, want 3", got)
			}
		})
	}
}

// flakyNotify is a store whose announcements of changes fail the first fail
// times.
type flakyNotify struct {
	kept
	fail, tries atomic.Int64
}

func (f *flakyNotify) Changed(ctx context.Context) error {
	if f.tries.Add(1) <= f.fail.Load() {
		return errInjected
	}
	return f.kept.Changed(ctx)
}

// A change whose announcement fails is announced again: another process
// keeps key lookups for keyTTL while it hears of no change, so a revoked
// key would be let in there for that long. It still sees the revocation
// on its very next request when the announcement failed twice; when
// every try fails, the tries are bounded and the failure is logged.
func TestFailedAnnouncementTriedAgain(t *testing.T) {
	defer account.SetAnnouncePauses(account.SetAnnouncePauses([]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}))
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := storetest.OpenPair(t, kind)
			listening(t, sa, sb)
			server := account.New(kept{sa}, account.Config{Auth: true, Logger: slog.New(slog.DiscardHandler)})
			defer server.Close()
			var logs bytes.Buffer
			st := &flakyNotify{kept: kept{sb}}
			cli := account.New(st, account.Config{Auth: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			defer cli.Close()

			tm, err := cli.CreateTeam(ctx, "announce", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var key string
			var k account.Key
			heard(t, func() { key, k, err = cli.CreateKey(ctx, tm.ID, "", account.Limits{}) }, sa)
			if err != nil {
				t.Fatal(err)
			}
			if _, e := server.Authenticate(ctx, key); e != nil {
				t.Fatalf("the new key: %v", e)
			}

			st.tries.Store(0)
			st.fail.Store(2)
			heard(t, func() { _, err = cli.RevokeKey(ctx, k.ID) }, sa)
			if err != nil {
				t.Fatal(err)
			}
			if n := st.tries.Load(); n != 3 {
				t.Errorf("announced %d times, want 3 (two failures, then heard)", n)
			}
			if _, e := server.Authenticate(ctx, key); e == nil || e.Code != stream.CodeUnauthorized {
				t.Fatalf("the revoked key on the other process: %v, want unauthorized", e)
			}
			if logs.Len() != 0 {
				t.Errorf("a change heard at the third try logged: %s", logs.String())
			}

			st.tries.Store(0)
			st.fail.Store(1 << 30)
			if _, err := cli.SetTeamLimits(ctx, tm.ID, account.Limits{}, 5); err != nil {
				t.Fatal(err)
			}
			if n, want := st.tries.Load(), int64(4); n != want {
				t.Errorf("a change never heard announced %d times, want %d", n, want)
			}
			if !strings.Contains(logs.String(), "announcing a change") {
				t.Errorf("a change never announced was not logged: %q", logs.String())
			}
		})
	}
}
