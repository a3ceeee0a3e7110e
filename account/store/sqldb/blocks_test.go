package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
)

// A block takes at most a share of the free credits, none below the floor
// or for a team with a budget; records shrink it by what their call held
// (per call, in bulk, a duplicate too) and charge the team; ReturnBlock
// gives back the rest and closes it; a block left with nothing is gone; a
// block of a dead owner is released with its lease, one a record still
// names is kept.
func TestBlocks(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_k", 100)
		take := func(id string, want int64) int64 {
			t.Helper()
			n, err := s.TakeBlock(ctx, account.Reservation{ID: id, TeamID: "team_k", Owner: "o1", Credits: want}, 4, 20)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		team := func() account.Team { tm, _ := s.Team(ctx, "team_k"); return tm }
		if n := take("blk_1", 50); n != 25 {
			t.Fatalf("took %d, want a quarter of 100 free", n)
		}
		if n := take("blk_2", 10); n != 10 {
			t.Fatalf("took %d, want the 10 asked (75 free)", n)
		}
		if open, _ := s.OpenBlocks(ctx, "team_k", "o2"); !open {
			t.Fatal("another owner sees no open block")
		}
		if open, _ := s.OpenBlocks(ctx, "team_k", "o1"); open {
			t.Fatal("the owner's own blocks count as another's")
		}
		// Three calls of blk_1: one alone, two in bulk with a duplicate
		// id (it still gives back what it held).
		c := func(id string, held int64) *account.Call {
			return &account.Call{ID: id, TeamID: "team_k", Status: "ok", Credits: 1, Block: "blk_1", Held: held, Started: t0}
		}
		if err := s.RecordCall(ctx, c("call_1", 1), nil); err != nil {
			t.Fatal(err)
		}
		dup, err := s.RecordCalls(ctx, []*account.Call{c("call_2", 1), c("call_1", 1), c("call_3", 1)})
		if err != nil || dup[0] || !dup[1] || dup[2] {
			t.Fatalf("bulk: %v %v", dup, err)
		}
		if tm := team(); tm.Credits != 97 || tm.Reserved != 35-4 {
			t.Fatalf("after 3 calls (and a duplicate) of blk_1: %+v, want 97 credits, 31 reserved", tm)
		}
		// blk_1 handed out 5 (one call in flight): 20 go back; the
		// call's record then empties it.
		if err := s.ReturnBlock(ctx, "blk_1", 20); err != nil {
			t.Fatal(err)
		}
		if tm := team(); tm.Reserved != 11 {
			t.Fatalf("after the return: %+v, want 11 reserved (blk_2, and one call of blk_1)", tm)
		}
		if err := s.RecordCall(ctx, c("call_4", 1), nil); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Reservations(ctx); n != 1 {
			t.Fatalf("%d reservation rows, want blk_2's only (blk_1 emptied)", n)
		}
		if err := s.ReturnBlock(ctx, "blk_1", 0); err != nil { // gone: nothing
			t.Fatal(err)
		}
		// Below the floor (20 free of 96 - 10 = 86: not yet), and a
		// budget.
		if n := take("blk_3", 1000); n != 21 {
			t.Fatalf("took %d, want 86/4", n)
		}
		if err := s.SetTeamLimits(ctx, "team_k", account.Limits{}, 5); err != nil {
			t.Fatal(err)
		}
		if n := take("blk_4", 10); n != 0 {
			t.Fatalf("a team with a budget: took %d", n)
		}
		if err := s.SetTeamLimits(ctx, "team_k", account.Limits{}, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Reserve(ctx, account.Reservation{ID: "res_x", TeamID: "team_k", Owner: "o2", Credits: 50}); err != nil {
			t.Fatal(err)
		}
		if n := take("blk_5", 10); n != 0 {
			t.Fatalf("15 free, under the floor of 20: took %d", n)
		}
		// o1 dies: its blocks go with its lease, but blk_3, which a
		// waiting record names, stays until that record shrinks it.
		if err := s.RenewLease(ctx, "o1", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.RenewLease(ctx, "o2", t0.Add(120e9)); err != nil {
			t.Fatal(err)
		}
		keep := func(_, id string) bool { return id == "blk_3" }
		if n, err := s.ReleaseExpired(ctx, t0.Add(60e9), keep); err != nil || n != 1 {
			t.Fatalf("released %d, %v; want blk_2", n, err)
		}
		rec := &account.Call{ID: "call_5", TeamID: "team_k", Status: "ok", Credits: 1, Block: "blk_3", Held: 1, Started: t0}
		if err := s.RecordCall(ctx, rec, nil); err != nil || rec.Credits != 1 {
			t.Fatalf("the waiting record: %v, %d credits", err, rec.Credits)
		}
		if n, err := s.ReleaseExpired(ctx, t0.Add(61e9), nil); err != nil || n != 1 {
			t.Fatalf("released %d, %v; want blk_3 once its record is in", n, err)
		}
		if tm := team(); tm.Credits != 95 || tm.Reserved != 50 {
			t.Fatalf("at the end: %+v, want 95 credits (5 calls), 50 reserved (res_x)", tm)
		}
	})
}

// Blocks taken by two stores (two processes) at once, beside per-call
// reservations, never hold more than the team has; the calls admitted
// from them, recorded, charge exactly the credits the team had.
func TestBlocksAreAtomic(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			a, b := storetest.OpenPair(t, kind)
			mustTeam(t, a, "team_a", 1000)
			var held, perCall atomic.Int64
			var wg sync.WaitGroup
			for i := range 40 {
				st := []*sqldb.Store{a, b}[i%2]
				wg.Go(func() {
					for k := 0; ; k++ {
						id := fmt.Sprintf("blk_%d_%d", i, k)
						n, err := st.TakeBlock(ctx, account.Reservation{ID: id, TeamID: "team_a", Owner: "o", Credits: 16}, 4, 8)
						if err != nil {
							t.Error(err)
							return
						}
						if n == 0 {
							err := st.Reserve(ctx, account.Reservation{ID: "res_" + id, TeamID: "team_a", Owner: "o", Credits: 1})
							if errors.Is(err, account.ErrInsufficientCredits) {
								return
							}
							if err != nil {
								t.Error(err)
								return
							}
							perCall.Add(1)
							c := &account.Call{ID: "call_" + id, TeamID: "team_a", Status: "ok", Credits: 1, Reservation: "res_" + id, Started: t0}
							if err := st.RecordCall(ctx, c, nil); err != nil {
								t.Error(err)
							}
							continue
						}
						held.Add(n)
						var cs []*account.Call
						for j := range n {
							cs = append(cs, &account.Call{ID: fmt.Sprintf("call_%s_%d", id, j), TeamID: "team_a", Status: "ok", Credits: 1, Block: id, Held: 1, Started: t0})
						}
						if _, err := st.RecordCalls(ctx, cs); err != nil {
							t.Error(err)
						}
						// Used up: its process closes it.
						if err := st.ReturnBlock(ctx, id, 0); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			tm, _ := a.Team(ctx, "team_a")
			if held.Load()+perCall.Load() != 1000 || tm.Credits != 0 || tm.Reserved != 0 {
				t.Fatalf("%d credits in blocks and %d per call, team after %+v; want 1000 in all, nothing left or held", held.Load(), perCall.Load(), tm)
			}
			if n, _ := a.Reservations(ctx); n != 0 {
				t.Fatalf("%d reservation rows left", n)
			}
		})
	}
}

// A block's close stored once gives back once, however often its process
// tries it (a give-back retried after an error that came after the
// commit): the second CloseBlock, RollBlock's close, ReturnBlock give
// nothing more, and a fold alone (BlockClose without an ID) leaves an
// open block open, its close to come. A call's credits given back
// (Held) come back whatever the block's state.
func TestBlockCloseOnce(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_o", 100)
		team := func() account.Team { tm, _ := s.Team(ctx, "team_o"); return tm }
		take := func(id string) {
			t.Helper()
			if n, err := s.TakeBlock(ctx, account.Reservation{ID: id, TeamID: "team_o", Owner: "o1", Credits: 10}, 4, 0); err != nil || n != 10 {
				t.Fatalf("take %s: %d, %v", id, n, err)
			}
		}
		rec := func(id, block string) {
			t.Helper()
			c := &account.Call{ID: id, TeamID: "team_o", Status: "ok", Credits: 1, Block: block, Held: 1, Started: t0}
			if err := s.RecordCall(ctx, c, nil); err != nil {
				t.Fatal(err)
			}
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		want := func(what string, credits, reserved int64) {
			t.Helper()
			if tm := team(); tm.Credits != credits || tm.Reserved != reserved {
				t.Fatalf("%s: %+v, want %d credits, %d reserved", what, tm, credits, reserved)
			}
		}
		// blk_a handed out 4: 2 recorded, 2 in flight; 6 go back.
		take("blk_a")
		rec("call_a1", "blk_a")
		rec("call_a2", "blk_a")
		// A fold alone while its close is on its way: still open.
		must(s.CloseBlock(ctx, account.BlockClose{Folds: []string{"blk_a"}}))
		want("folded, open", 98, 8)
		c := account.BlockClose{ID: "blk_a", Credits: 6}
		for range 2 {
			must(s.CloseBlock(ctx, c))
			want("closed", 98, 2)
		}
		must(s.ReturnBlock(ctx, "blk_a", 6))
		want("returned after the close", 98, 2)
		// RollBlock stored, then tried again as the close alone.
		take("blk_b")
		rec("call_b1", "blk_b")
		if _, err := s.RollBlock(ctx, account.BlockClose{ID: "blk_b", Credits: 9, Fold: true}, account.Reservation{ID: "blk_c", TeamID: "team_o", Owner: "o1", Credits: 10}, 4, 0); err != nil {
			t.Fatal(err)
		}
		want("rolled", 97, 12)
		must(s.CloseBlock(ctx, account.BlockClose{ID: "blk_b", Credits: 9, Fold: true}))
		want("rolled, closed again", 97, 12)
		// blk_c, its take stored though its process saw an error, given
		// back whole, twice.
		for range 2 {
			must(s.CloseBlock(ctx, account.BlockClose{ID: "blk_c", Credits: math.MaxInt64, Fold: true}))
			want("blk_c given back whole", 97, 2)
		}
		// A call of the closed blk_a refused after its admission: its
		// credit comes back though the block is closed; then the last
		// call's record empties it.
		must(s.CloseBlock(ctx, account.BlockClose{ID: "blk_a", Credits: 1, Held: true}))
		want("a call's credit given back", 97, 1)
		rec("call_a4", "blk_a")
		want("the last call recorded", 96, 0)
		if n, _ := s.Reservations(ctx); n != 0 {
			t.Fatalf("%d reservation rows left, want none", n)
		}
	})
}

// A team's mark counts the refusals that asked for its blocks' credits:
// every Want moves it, a missing team reads as never marked, and nothing
// else of the team moves.
func TestWanted(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_w", 100)
		wanted := func(team string) int64 {
			t.Helper()
			n, err := s.Wanted(ctx, team)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := wanted("team_w"); n != 0 {
			t.Fatalf("a new team's mark %d, want 0", n)
		}
		for i := int64(1); i <= 2; i++ {
			if err := s.Want(ctx, "team_w"); err != nil {
				t.Fatal(err)
			}
			if n := wanted("team_w"); n != i {
				t.Fatalf("mark %d after %d refusals, want %d", n, i, i)
			}
		}
		if err := s.Want(ctx, "team_none"); err != nil {
			t.Fatalf("marking a missing team: %v", err)
		}
		if n := wanted("team_none"); n != 0 {
			t.Fatalf("a missing team's mark %d, want 0", n)
		}
		if tm, _ := s.Team(ctx, "team_w"); tm.Credits != 100 || tm.Reserved != 0 {
			t.Fatalf("team %+v after its marks, want 100 credits, none reserved", tm)
		}
	})
}
