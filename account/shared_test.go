package account_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/redisjournal"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/stream"
)

// sharedJournal opens a redisjournal on url under prefix, closed when t
// ends.
func sharedJournal(t *testing.T, url, prefix string) *redisjournal.Journal {
	t.Helper()
	j, err := redisjournal.Open(url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// A replica whose store refuses records keeps them in Redis (and in its
// local journal); its reservations stay held after its lease ends, until
// another replica, which never saw the calls, stores every record once
// with its exact charge. A record stored again (a drainer that died
// between storing and forgetting it, the local journal's copy replayed)
// charges nothing.
func TestRefusedRecordsStoredByAnotherReplica(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := storetest.OpenPair(t, kind)
			url, prefix := redistest.Prefix(t)
			quiet := slog.New(slog.DiscardHandler)

			good := account.New(kept{sa}, account.Config{Auth: true, Shared: sharedJournal(t, url, prefix), Logger: quiet, DrainEvery: time.Hour})
			defer good.Close()
			tm, _ := good.CreateTeam(ctx, "acme", 3)
			key, _, _ := good.CreateKey(ctx, tm.ID, "", account.Limits{})

			// Replica A: its records are refused, and its clock is an hour
			// behind, so its lease has run out for the others: as if it
			// had died.
			dirA := t.TempDir()
			past := func() time.Time { return time.Now().Add(-time.Hour) }
			a := account.New(refusing{kept{sb}}, account.Config{Auth: true, Journal: filepath.Join(dirA, "calls.journal"),
				Shared: sharedJournal(t, url, prefix), Logger: quiet, Now: past, DrainEvery: time.Hour})
			for i := range 3 {
				adm, err := a.Admit(keyCtx(t, a, key), &stream.Request{Model: "m"})
				if err != nil {
					t.Fatal(err)
				}
				adm.Done(&gateway.Record{ID: fmt.Sprintf("call_refused%d", i), Provider: "mock", Model: "m",
					Usage: stream.Usage{PromptTokens: 2, CompletionTokens: 3}, Cost: gateway.Cost{Total: 0.25}, Status: "ok"})
			}
			if got, _ := good.Team(ctx, tm.ID); got.Credits != 3 || got.Reserved != 3 || calls(t, good, tm.ID) != 0 {
				t.Fatalf("team while the records are refused: %+v, %d calls; want 3 credits, all reserved, no calls", got, calls(t, good, tm.ID))
			}
			local, err := os.ReadFile(filepath.Join(dirA, "calls.journal"))
			if err != nil || bytes.Count(local, []byte("\n")) != 3 {
				t.Fatalf("A's local journal: %q %v; want the 3 records", local, err)
			}

			// A's lease has ended: its reservations are kept while their
			// records wait, so the credits cannot go to another call.
			good.RenewLease(ctx)
			if got, _ := good.Team(ctx, tm.ID); got.Reserved != 3 {
				t.Fatalf("team after A's lease ended: %+v; want its 3 reservations kept", got)
			}
			if _, err := good.Admit(keyCtx(t, good, key), &stream.Request{Model: "m"}); codeOf(err) != stream.CodeInsufficientCredit {
				t.Fatalf("a call while the credits wait on pending records: %v; want insufficient credit", err)
			}

			// Another replica stores them: exact charges, nothing reserved.
			if n, err := good.DrainShared(ctx); n != 3 || err != nil {
				t.Fatalf("drain: %d, %v; want 3", n, err)
			}
			want := func(when string) {
				t.Helper()
				got, _ := good.Team(ctx, tm.ID)
				rows, _ := good.Usage(ctx, account.UsageFilter{TeamID: tm.ID})
				if got.Credits != 0 || got.Reserved != 0 || got.Spent != 0.75 || len(rows) != 1 || rows[0].Calls != 3 || rows[0].Usage.OutputTokens != 9 {
					t.Fatalf("%s: team %+v, usage %+v; want 3 calls charged once each (0 credits, 0.75 spent), nothing reserved", when, got, rows)
				}
			}
			want("after the drain")

			// A drainer that died after storing, before forgetting: the
			// records are in Redis again (the local copies, under their
			// keys); the next drain forgets them and charges nothing.
			j := sharedJournal(t, url, prefix)
			for _, line := range bytes.Split(bytes.TrimSpace(local), []byte("\n")) {
				var c account.Call
				if err := json.Unmarshal(line, &c); err != nil {
					t.Fatal(err)
				}
				if err := j.Put(ctx, c.ID+"|"+c.Reservation, line); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := good.DrainShared(ctx); n != 3 || err != nil {
				t.Fatalf("second drain: %d, %v; want 3 forgotten", n, err)
			}
			if keys, err := j.Keys(ctx); len(keys) != 0 || err != nil {
				t.Fatalf("left in Redis: %q %v", keys, err)
			}
			want("after storing the same records again")

			// A restarts on its disk: the local copies replay as no-ops.
			a.Close()
			b := account.New(kept{sb}, account.Config{Auth: true, Journal: filepath.Join(dirA, "calls.journal"), Shared: j, Logger: quiet, DrainEvery: time.Hour})
			b.Close()
			want("after the local journal's replay")
			if left, _ := os.ReadFile(filepath.Join(dirA, "calls.journal")); len(left) != 0 {
				t.Fatalf("local journal after its replay: %q", left)
			}
		})
	}
}

// Replicas draining at once store each record once: one holds the claim,
// and a record stored by two (a claim that ran out) charges once anyway.
func TestConcurrentDrains(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "postgres")
	url, prefix := redistest.Prefix(t)
	quiet := slog.New(slog.DiscardHandler)
	s := account.New(kept{st}, account.Config{Auth: true, Logger: quiet})
	defer s.Close()
	tm, _ := s.CreateTeam(ctx, "many", 1000)
	j := sharedJournal(t, url, prefix)
	const n = 300 // more than a batch of HSCAN and of a transaction
	for i := range n {
		c := account.Call{ID: fmt.Sprintf("call_%04d", i), TeamID: tm.ID, Status: "ok", Credits: 2, Started: time.Now().UTC()}
		b, _ := json.Marshal(c)
		if err := j.Put(ctx, c.ID+"|", b); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 3 {
		d := account.New(kept{st}, account.Config{Auth: true, Shared: sharedJournal(t, url, prefix), Logger: quiet, DrainEvery: time.Hour})
		wg.Go(func() {
			for {
				if keys, err := j.Keys(ctx); err != nil || len(keys) == 0 {
					return
				}
				if _, err := d.DrainShared(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, _ := s.Team(ctx, tm.ID)
	if got.Credits != 1000-2*n || calls(t, s, tm.ID) != n {
		t.Fatalf("team %+v, %d calls; want %d calls charged 2 each", got, calls(t, s, tm.ID), n)
	}
}

// When Redis refuses too, a record goes to the local journal only; the
// next start on that disk moves it to Redis if the store still refuses,
// and a drain stores it.
func TestRefusedByStoreAndRedis(t *testing.T) {
	ctx := context.Background()
	sa, sb := storetest.OpenPair(t, "sqlite")
	quiet := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "calls.journal")
	down := sharedJournal(t, "redis://127.0.0.1:1/0", "") // nothing listens on port 1
	s := account.New(refusing{kept{sa}}, account.Config{Auth: true, Journal: path, Shared: down, Logger: quiet, DrainEvery: time.Hour})
	tm, _ := s.CreateTeam(ctx, "both", 2)
	key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
	adm, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	adm.Done(&gateway.Record{ID: "call_local_only", Provider: "mock", Model: "m", Status: "ok"})
	if keep, _ := os.ReadFile(path); !bytes.Contains(keep, []byte("call_local_only")) {
		t.Fatalf("local journal %q: want the record", keep)
	}
	s.Close()

	// The next start finds the store still refusing: the record moves to
	// Redis, off this disk, and the local journal is emptied.
	url, prefix := redistest.Prefix(t)
	up := sharedJournal(t, url, prefix)
	account.New(refusing{kept{sb}}, account.Config{Auth: true, Journal: path, Shared: up, Logger: quiet, DrainEvery: time.Hour}).Close()
	if keys, err := up.Keys(ctx); len(keys) != 1 || err != nil {
		t.Fatalf("Redis after a replay the store refused: %q %v; want the record", keys, err)
	}
	if left, _ := os.ReadFile(path); len(left) != 0 {
		t.Fatalf("local journal after moving its record to Redis: %q", left)
	}
	r := account.New(kept{sb}, account.Config{Auth: true, Journal: path, Shared: up, Logger: quiet, DrainEvery: time.Hour})
	defer r.Close()
	if n, err := r.DrainShared(ctx); n != 1 || err != nil {
		t.Fatalf("drain: %d, %v; want the record", n, err)
	}
	if got, _ := r.Team(ctx, tm.ID); got.Credits != 1 || got.Reserved != 0 || calls(t, r, tm.ID) != 1 {
		t.Fatalf("after the restart: %+v, %d calls; want the call stored and charged, its reservation released by the record", got, calls(t, r, tm.ID))
	}
}
