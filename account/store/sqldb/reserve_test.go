package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
)

// Concurrent reservations from two stores (two processes), most of them
// written in groups (reserveGroup), never hold more than the team has,
// and hold exactly what one-by-one reservations would: as many credits
// as the team has, as many budget reservations as fit by the same float
// sums, to the bit; a missing team, a duplicate id and a team short of
// credits are each refused with their own error, and refusing them
// refuses nothing else.
func TestReserveIsAtomic(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			a, b := storetest.OpenPair(t, kind)
			mustTeam(t, a, "team_c", 50)
			mustTeam(t, a, "team_b", 1000)
			if err := a.SetTeamLimits(ctx, "team_b", account.Limits{}, 1.0); err != nil {
				t.Fatal(err)
			}
			// 0.1 is not exact in binary: how many fit depends on the
			// order of the float additions, which is the same for
			// every order of equal amounts.
			const step = 0.1
			wantBudget, fit := 0.0, 0
			for wantBudget+step <= 1.0 {
				wantBudget += step
				fit++
			}
			var credits, budget, missing, dups atomic.Int64
			var wg sync.WaitGroup
			for i := range 400 {
				st := []*sqldb.Store{a, b}[i%2]
				wg.Go(func() {
					check := func(err error, ok *atomic.Int64, refused error) {
						switch {
						case err == nil:
							ok.Add(1)
						case !errors.Is(err, refused):
							t.Errorf("reservation %d: %v, want nil or %v", i, err, refused)
						}
					}
					check(st.Reserve(ctx, account.Reservation{ID: fmt.Sprintf("res_c%03d", i), TeamID: "team_c", Owner: "o", Credits: 1}), &credits, account.ErrInsufficientCredits)
					check(st.Reserve(ctx, account.Reservation{ID: fmt.Sprintf("res_b%03d", i), TeamID: "team_b", Owner: "o", Budget: step}), &budget, account.ErrBudgetSpent)
					check(st.Reserve(ctx, account.Reservation{ID: fmt.Sprintf("res_m%03d", i), TeamID: "team_missing", Owner: "o", Credits: 1}), &missing, account.ErrNotFound)
					if i%50 == 0 {
						// The same id twice: the second is refused, alone.
						r := account.Reservation{ID: fmt.Sprintf("res_d%03d", i), TeamID: "team_c", Owner: "o"}
						if err := st.Reserve(ctx, r); err != nil {
							t.Errorf("reservation of nothing: %v", err)
						}
						check(st.Reserve(ctx, r), &dups, account.ErrExists)
					}
				})
			}
			wg.Wait()
			if credits.Load() != 50 || budget.Load() != int64(fit) || missing.Load() != 0 || dups.Load() != 0 {
				t.Fatalf("held %d credit and %d budget reservations (want 50 and %d), %d on a missing team, %d duplicates", credits.Load(), budget.Load(), fit, missing.Load(), dups.Load())
			}
			tc, _ := a.Team(ctx, "team_c")
			tb, _ := a.Team(ctx, "team_b")
			if tc.Reserved != 50 || tb.BudgetReserved != wantBudget {
				t.Fatalf("teams: %+v %+v; want 50 reserved and a held budget of exactly %v", tc, tb, wantBudget)
			}
			if n, _ := a.Reservations(ctx); n != 50+fit+8 {
				t.Fatalf("%d reservation rows, want %d", n, 50+fit+8)
			}
			if a.Grouped()+b.Grouped() == 0 {
				t.Fatal("no reservation was written in a group: the test did not test grouping")
			}
			t.Logf("%d and %d of the reservations written in groups", a.Grouped(), b.Grouped())
		})
	}
}

// A record releases its reservation and charges once; storing the same
// call id again (another process ending a continued stream) only releases
// the second reservation. Release is idempotent.
func TestRecordSettlesReservationOnce(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_r", 5)
		for _, id := range []string{"res_1", "res_2", "res_3"} {
			if err := s.Reserve(ctx, account.Reservation{ID: id, TeamID: "team_r", Owner: "o", Credits: 1}); err != nil {
				t.Fatal(err)
			}
		}
		c := func(res string) *account.Call {
			return &account.Call{ID: "call_same", TeamID: "team_r", Status: "ok", Credits: 1, Reservation: res, Started: t0, Cost: account.Cost{Total: 0.5}}
		}
		dup, err := s.RecordCalls(ctx, []*account.Call{c("res_1"), {ID: "call_other", TeamID: "team_r", Status: "error", Reservation: "res_3", Started: t0}})
		if err != nil || dup[0] || dup[1] {
			t.Fatalf("first store: %v %v", dup, err)
		}
		second := c("res_2")
		if err := s.RecordCall(ctx, second, nil); !errors.Is(err, account.ErrExists) || second.Credits != 0 {
			t.Fatalf("second store of the same id: %v, credits %d; want ErrExists, 0", err, second.Credits)
		}
		if err := s.Release(ctx, "res_1"); err != nil {
			t.Fatal(err)
		}
		tm, _ := s.Team(ctx, "team_r")
		if tm.Credits != 4 || tm.Reserved != 0 || tm.Spent != 0.5 {
			t.Fatalf("team after: %+v, want 4 credits, none reserved, spent 0.5", tm)
		}
		got, err := s.Call(ctx, "call_same")
		if err != nil || got.Credits != 1 {
			t.Fatalf("call: %+v %v", got, err)
		}
	})
}

// The reservations of an owner whose lease ran out are released without
// charge, except those kept (their records are pending elsewhere), which
// stay until a record releases them; a live owner's stay.
func TestLeases(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_l", 5)
		if err := s.RenewLease(ctx, "dead", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.RenewLease(ctx, "live", t0.Add(60e9)); err != nil {
			t.Fatal(err)
		}
		if err := s.RenewLease(ctx, "live", t0.Add(90e9)); err != nil { // renewal
			t.Fatal(err)
		}
		for i, o := range []string{"dead", "dead", "live", "never"} {
			if err := s.Reserve(ctx, account.Reservation{ID: fmt.Sprintf("res_%d", i), TeamID: "team_l", Owner: o, Credits: 1}); err != nil {
				t.Fatal(err)
			}
		}
		keep := func(_, id string) bool { return id == "res_1" }
		n, err := s.ReleaseExpired(ctx, t0.Add(30e9), keep)
		if err != nil || n != 2 {
			t.Fatalf("released %d, %v; want the dead owner's res_0 and the 1 with no lease", n, err)
		}
		tm, _ := s.Team(ctx, "team_l")
		if tm.Credits != 5 || tm.Reserved != 2 {
			t.Fatalf("team: %+v, want 5 credits, 2 reserved (the live owner's, the kept one)", tm)
		}
		// Kept across rounds, though its owner's lease is forgotten.
		if n, err := s.ReleaseExpired(ctx, t0.Add(31e9), keep); err != nil || n != 0 {
			t.Fatalf("second round released %d, %v; want 0", n, err)
		}
		kept := &account.Call{ID: "call_kept", TeamID: "team_l", Status: "ok", Credits: 1, Reservation: "res_1"}
		if err := s.RecordCall(ctx, kept, nil); err != nil || kept.Credits != 1 {
			t.Fatalf("the kept reservation's record: %v, %d credits", err, kept.Credits)
		}
		if tm, _ = s.Team(ctx, "team_l"); tm.Credits != 4 || tm.Reserved != 1 {
			t.Fatalf("after the kept record: %+v, want 4 credits, 1 reserved", tm)
		}
		if err := s.DropLease(ctx, "live", nil); err != nil {
			t.Fatal(err)
		}
		if tm, _ = s.Team(ctx, "team_l"); tm.Reserved != 0 {
			t.Fatalf("after DropLease: %+v", tm)
		}
	})
}

// A group of reservations is written for all its members: the client of
// the one leading it leaving does not refuse the others.
func TestReserveGroupOutlivesItsLeader(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			s := storetest.Open(t, kind)
			mustTeam(t, s, "team_g", 10)
			release := s.HoldReservations()
			leaderCtx, leave := context.WithCancel(context.Background())
			errs := make(chan error, 2)
			go func() {
				errs <- s.Reserve(leaderCtx, account.Reservation{ID: "res_leader", TeamID: "team_g", Owner: "o", Credits: 1})
			}()
			for s.WaitingReservations() < 1 {
				runtime.Gosched()
			}
			go func() {
				errs <- s.Reserve(context.Background(), account.Reservation{ID: "res_other", TeamID: "team_g", Owner: "o", Credits: 1})
			}()
			for s.WaitingReservations() < 2 {
				runtime.Gosched()
			}
			leave()   // the leader's client goes before the group is written
			release() // the leader writes both
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("a grouped reservation: %v, want it held", err)
				}
			}
			if tm, _ := s.Team(context.Background(), "team_g"); tm.Reserved != 2 {
				t.Fatalf("team %+v, want 2 reserved", tm)
			}
		})
	}
}

// A refused reservation is named by what the team lacks when it is read
// after the refusal; a team that would take it by then (credits given
// back in between, as a block's are) is no budget's refusal but a change,
// which Reserve tries again.
func TestWhyRefused(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			s := storetest.Open(t, kind)
			ctx := context.Background()
			mustTeam(t, s, "team_free", 3)
			mustTeam(t, s, "team_none", 0)
			mustTeam(t, s, "team_budget", 10)
			if err := s.SetTeamLimits(ctx, "team_budget", account.Limits{}, 1); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				r    account.Reservation
				want error
			}{
				{account.Reservation{TeamID: "team_free", Credits: 1}, sqldb.ErrChanged},
				{account.Reservation{TeamID: "team_none", Credits: 1}, account.ErrInsufficientCredits},
				{account.Reservation{TeamID: "team_budget", Budget: 2}, account.ErrBudgetSpent},
				{account.Reservation{TeamID: "team_budget", Budget: 0.5}, sqldb.ErrChanged},
			} {
				if err := s.WhyRefused(ctx, c.r); !errors.Is(err, c.want) {
					t.Errorf("%s, %d credits, budget %g: %v; want %v", c.r.TeamID, c.r.Credits, c.r.Budget, err, c.want)
				}
			}
			// Reserve itself takes what the team has.
			if err := s.Reserve(ctx, account.Reservation{ID: "res_w", TeamID: "team_free", Owner: "o", Credits: 1}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
