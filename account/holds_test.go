package account_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/stream"
)

// A create-and-call-stream job whose record waits in Redis past the job
// timeout stays open: the sweep leaves it to the record, which completes
// it with the charge of the call it served. A job with no record waiting
// expires as before.
func TestJobKeptWhileItsRecordWaits(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := storetest.OpenPair(t, kind)
			url, prefix := redistest.Prefix(t)
			quiet := slog.New(slog.DiscardHandler)
			clk := &clock{t: time.Now()}
			good := account.New(kept{sa}, account.Config{Auth: true, Shared: sharedJournal(t, url, prefix), Logger: quiet, Now: clk.Now, DrainEvery: time.Hour})
			defer good.Close()
			tm, _ := good.CreateTeam(ctx, "jobs", 2)
			admin := account.Identity{}
			served, _ := good.CreateJob(ctx, admin, tm.ID, "chat")
			idle, _ := good.CreateJob(ctx, admin, tm.ID, "chat")
			key, _, _ := good.CreateKey(ctx, tm.ID, "", account.Limits{})

			a := account.New(refusing{kept{sb}}, account.Config{Auth: true, Shared: sharedJournal(t, url, prefix), Logger: quiet, DrainEvery: time.Hour})
			defer a.Close()
			jctx := account.WithOutcome(account.WithJob(keyCtx(t, a, key), served), &account.Outcome{SettleJob: true})
			adm, err := a.Admit(jctx, &stream.Request{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			adm.Done(&gateway.Record{ID: "call_late", Provider: "mock", Model: "m", Status: "ok", Started: time.Now()})

			clk.Add(2 * time.Hour) // past the job timeout
			if n, err := good.Sweep(ctx); n != 1 || err != nil {
				t.Fatalf("sweep: %d, %v; want only the idle job expired", n, err)
			}
			if j, _ := good.Job(ctx, admin, idle.ID); j.Status != account.JobExpired {
				t.Fatalf("idle job %+v; want expired", j)
			}
			if j, _ := good.Job(ctx, admin, served.ID); !j.Status.Open() {
				t.Fatalf("served job %+v; want open while its record waits", j)
			}
			if n, err := good.DrainShared(ctx); n != 1 || err != nil {
				t.Fatalf("drain: %d, %v", n, err)
			}
			j, _ := good.Job(ctx, admin, served.ID)
			got, _ := good.Team(ctx, tm.ID)
			if j.Status != account.JobCompleted || j.Charged != 1 || got.Credits != 1 || got.Reserved != 0 {
				t.Fatalf("after the record: job %+v, team %+v; want the job completed and charged 1", j, got)
			}
		})
	}
}

// racing is a shared journal whose first Release (or listing) runs then()
// after it answered: a record put just as another replica releases the
// expired lease's reservations one by one.
type racing struct {
	account.SharedJournal
	once sync.Once
	then func(hold string)
}

func (r *racing) Release(ctx context.Context, owner, hold string) (bool, error) {
	ok, err := r.SharedJournal.Release(ctx, owner, hold)
	r.once.Do(func() { r.then(hold) })
	return ok, err
}

func (r *racing) Keys(ctx context.Context) ([]string, error) {
	keys, err := r.SharedJournal.Keys(ctx)
	r.once.Do(func() { r.then("") })
	return keys, err
}

// noHeartbeat is a shared journal whose heartbeats do not reach Redis.
type noHeartbeat struct{ account.SharedJournal }

func (noHeartbeat) Heartbeat(context.Context, string, time.Duration) error { return nil }

// A replica whose lease ran out while it lived (its store unreachable),
// and whose heartbeat in Redis too, puts a record in Redis while another
// replica releases its reservations:
// the release of each reservation and the record's put are atomic with
// each other, so the reservation is kept for the record, which charges
// it. One released before its record came is reported by the put.
func TestReleaseRacesPut(t *testing.T) {
	ctx := context.Background()
	sa, sb := storetest.OpenPair(t, "postgres")
	url, prefix := redistest.Prefix(t)
	quiet := slog.New(slog.DiscardHandler)
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	a := account.New(refusing{kept{sb}}, account.Config{Auth: true, Shared: noHeartbeat{sharedJournal(t, url, prefix)}, Logger: quiet, Now: past})
	defer a.Close()
	tm, _ := a.CreateTeam(ctx, "race", 2)
	key, _, _ := a.CreateKey(ctx, tm.ID, "", account.Limits{})
	adms := map[string]gateway.Admission{}
	for range 2 {
		adm, err := a.Admit(keyCtx(t, a, key), &stream.Request{Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		adms["res:"+account.ReservationOf(adm)] = adm
	}
	var late string
	shared := &racing{SharedJournal: sharedJournal(t, url, prefix), then: func(first string) {
		for h, adm := range adms {
			if h != first {
				late = h
				adm.Done(&gateway.Record{ID: "call_racing", Provider: "mock", Model: "m", Status: "ok"})
			}
		}
	}}
	good := account.New(kept{sa}, account.Config{Auth: true, Shared: shared, Logger: quiet, DrainEvery: time.Hour})
	defer good.Close()
	good.RenewLease(ctx)
	if late == "" {
		t.Fatal("no reservation was released")
	}
	if got, _ := good.Team(ctx, tm.ID); got.Reserved != 1 {
		t.Fatalf("after the release: %+v; want the racing record's reservation kept", got)
	}
	if n, err := good.DrainShared(ctx); n != 1 || err != nil {
		t.Fatalf("drain: %d, %v", n, err)
	}
	c, err := good.Store().Call(ctx, "call_racing")
	if got, _ := good.Team(ctx, tm.ID); err != nil || c.Credits != 1 || got.Credits != 1 || got.Reserved != 0 {
		t.Fatalf("after the drain: call %+v %v, team %+v; want it charged 1", c, err, got)
	}
	// The other reservation went with nothing naming it: a record put
	// for it now is kept, and reported.
	for h := range adms {
		if h != late {
			if err := shared.Put(ctx, "call_after|"+h[len("res:"):], []byte(`{}`)); !errors.Is(err, account.ErrHoldGone) {
				t.Fatalf("put after its reservation went: %v; want ErrHoldGone", err)
			}
		}
	}
}

// flaky is a store whose call records fail while down is set.
type flaky struct {
	kept
	down *atomic.Bool
}

func (f flaky) RecordCall(ctx context.Context, c *account.Call, st *account.Settlement) error {
	if f.down.Load() {
		return errors.New("database unavailable")
	}
	return f.kept.RecordCall(ctx, c, st)
}

func (f flaky) RecordCalls(ctx context.Context, cs []*account.Call) ([]bool, error) {
	if f.down.Load() {
		return nil, errors.New("database unavailable")
	}
	return f.kept.RecordCalls(ctx, cs)
}

// Records kept in the local journal alone (no Redis, or Redis refused
// them too) are stored by the process that holds their reservations as
// soon as the store answers again (each lease renewal, and at Close):
// charged exactly, not at whatever the team can pay after a restart.
func TestLocalRecordsStoredWhileReserved(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			sa, _ := storetest.OpenPair(t, kind)
			quiet := slog.New(slog.DiscardHandler)
			down := &atomic.Bool{}
			s := account.New(flaky{kept{sa}, down}, account.Config{Auth: true, Journal: filepath.Join(t.TempDir(), "calls.journal"), Logger: quiet})
			tm, _ := s.CreateTeam(ctx, "local", 2)
			key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
			call := func(id string) {
				adm, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
				if err != nil {
					t.Fatal(err)
				}
				down.Store(true)
				adm.Done(&gateway.Record{ID: id, Provider: "mock", Model: "m", Status: "ok"})
				down.Store(false)
			}
			call("call_local1")
			s.RenewLease(ctx)
			if got, _ := s.Team(ctx, tm.ID); got.Credits != 1 || got.Reserved != 0 || calls(t, s, tm.ID) != 1 {
				t.Fatalf("after a lease renewal: %+v, %d calls; want the record stored, charged 1", got, calls(t, s, tm.ID))
			}
			call("call_local2")
			s.Close()
			if got, _ := s.Store().Team(ctx, tm.ID); got.Credits != 0 || got.Reserved != 0 {
				t.Fatalf("after Close: %+v; want the second record stored, charged 1", got)
			}
		})
	}
}

// A replica alive (its heartbeat in Redis) whose lease ran out, as when
// the store is unreachable to it alone, keeps its reservations: a call
// it still serves is charged when it ends, and its credits go to no
// other call meanwhile. Once it stops, what it still holds goes.
func TestAliveReplicaKeepsItsReservations(t *testing.T) {
	ctx := context.Background()
	sa, sb := storetest.OpenPair(t, "sqlite")
	url, prefix := redistest.Prefix(t)
	quiet := slog.New(slog.DiscardHandler)
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	a := account.New(refusing{kept{sb}}, account.Config{Auth: true, Shared: sharedJournal(t, url, prefix), Logger: quiet, Now: past, DrainEvery: time.Hour})
	tm, _ := a.CreateTeam(ctx, "alive", 2)
	key, _, _ := a.CreateKey(ctx, tm.ID, "", account.Limits{})
	var adms []gateway.Admission
	for range 2 {
		adm, err := a.Admit(keyCtx(t, a, key), &stream.Request{Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		adms = append(adms, adm)
	}
	good := account.New(kept{sa}, account.Config{Auth: true, Shared: sharedJournal(t, url, prefix), Logger: quiet, DrainEvery: time.Hour})
	defer good.Close()
	good.RenewLease(ctx)
	if _, err := good.Admit(keyCtx(t, good, key), &stream.Request{Model: "m"}); codeOf(err) != stream.CodeInsufficientCredit {
		t.Fatalf("a call while the live replica's calls hold the credits: %v; want insufficient credit", err)
	}
	adms[0].Done(&gateway.Record{ID: "call_alive", Provider: "mock", Model: "m", Status: "ok"})
	a.Close() // its other call never ended: its reservation goes
	good.RenewLease(ctx)
	if n, err := good.DrainShared(ctx); n != 1 || err != nil {
		t.Fatalf("drain: %d, %v", n, err)
	}
	if got, _ := good.Team(ctx, tm.ID); got.Credits != 1 || got.Reserved != 0 || calls(t, good, tm.ID) != 1 {
		t.Fatalf("after: %+v, %d calls; want the ended call charged 1, the other released", got, calls(t, good, tm.ID))
	}
}
