package sqldb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
)

// Calls charged what they held are recorded inside their block: the team
// row is not written, yet every read of the team shows them charged; the
// block's close gives back exactly what it held less what its calls were
// charged, records after the close fold at once, a lease release folds
// what is left, and a record whose block is gone is charged on the team
// row.
func TestBlockFolds(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_f", 1000)
		if n, err := s.TakeBlock(ctx, account.Reservation{ID: "blk_f", TeamID: "team_f", Owner: "o1", Credits: 100}, 4, 0); err != nil || n != 100 {
			t.Fatalf("took %d, %v", n, err)
		}
		if err := s.RenewLease(ctx, "o1", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		n := 0
		call := func(credits, held int64) *account.Call {
			n++
			st := "ok"
			if credits == 0 {
				st = "error"
			}
			return &account.Call{ID: fmt.Sprintf("call_f%d", n), TeamID: "team_f", Status: st, Credits: credits, Block: "blk_f", Held: held, Started: t0}
		}
		check := func(what string, credits, reserved, rawCredits, rawReserved int64) {
			t.Helper()
			tm, err := s.Team(ctx, "team_f")
			if err != nil || tm.Credits != credits || tm.Reserved != reserved {
				t.Fatalf("%s: team %+v (%v); want %d credits, %d reserved", what, tm, err, credits, reserved)
			}
			c, r, err := s.RawTeam(ctx, "team_f")
			if err != nil || c != rawCredits || r != rawReserved {
				t.Fatalf("%s: team row %d credits, %d reserved (%v); want %d, %d", what, c, r, err, rawCredits, rawReserved)
			}
		}
		// Calls admitted from the block: 30 charged what they held, 5
		// errors (charged nothing), 15 still running. A duplicate of a
		// charged call gives back what it held and is not charged.
		var batch []*account.Call
		for range 30 {
			batch = append(batch, call(1, 1))
		}
		for range 5 {
			batch = append(batch, call(0, 1))
		}
		dupOf := *batch[3]
		batch = append(batch, &dupOf)
		if dup, err := s.RecordCalls(ctx, batch[:20]); err != nil || slicesAny(dup) {
			t.Fatalf("first records: %v %v", dup, err)
		}
		if dup, err := s.RecordCalls(ctx, batch[20:]); err != nil || !dup[len(dup)-1] || slicesAny(dup[:len(dup)-1]) {
			t.Fatalf("second records: %v %v", dup, err)
		}
		// Of the block's 100 (51 handed out, the duplicate's record
		// its own call): 30 owed, 15 held by running calls, 49 unused;
		// the errors' and the duplicate's 6 went back on the team row.
		check("30 calls charged inside the open block", 970, 64, 1000, 94)
		if err := s.ReturnBlock(ctx, "blk_f", 49); err != nil {
			t.Fatal(err)
		}
		check("the block closed", 970, 15, 970, 15)
		var late []*account.Call
		for range 15 {
			late = append(late, call(1, 1))
		}
		if _, err := s.RecordCalls(ctx, late[:10]); err != nil {
			t.Fatal(err)
		}
		check("10 of the running calls ended after the close", 960, 5, 960, 5)
		if _, err := s.RecordCalls(ctx, late[10:12]); err != nil {
			t.Fatal(err)
		}
		check("12 of them", 958, 3, 958, 3)
		// The owner dies with 3 calls running: its lease releases the
		// rest, and their records, if any come, are charged on the team
		// row (it no longer holds them).
		if err := s.RenewLease(ctx, "o1", t0); err != nil {
			t.Fatal(err)
		}
		if n, err := s.ReleaseExpired(ctx, t0.Add(time.Minute), nil); err != nil || n != 1 {
			t.Fatalf("released %d, %v", n, err)
		}
		check("the block released", 958, 0, 958, 0)
		if rows, _ := s.Reservations(ctx); rows != 0 {
			t.Fatalf("%d reservation rows left", rows)
		}
		if _, err := s.RecordCalls(ctx, late[12:]); err != nil {
			t.Fatal(err)
		}
		check("3 records after the release", 955, 0, 955, 0)
		calls, _ := s.RecentCalls(ctx, account.UsageFilter{TeamID: "team_f"}, 1000)
		var sum int64
		for _, c := range calls {
			sum += c.Credits
		}
		if len(calls) != 50 || sum != 45 {
			t.Fatalf("%d calls charged %d in all; want 50 calls, 45 credits", len(calls), sum)
		}
	})
}

// A block whose owner's lease runs out while it is open, with calls
// recorded inside it, gives back exactly what it held less what they were
// charged; so does one a waiting record keeps, closed, when that record
// is stored.
func TestBlockReleasedOpen(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_r", 400)
		for _, id := range []string{"blk_r1", "blk_r2"} {
			if n, err := s.TakeBlock(ctx, account.Reservation{ID: id, TeamID: "team_r", Owner: "o1", Credits: 40}, 4, 0); err != nil || n != 40 {
				t.Fatalf("took %d, %v", n, err)
			}
		}
		var cs []*account.Call
		for i := range 12 {
			b := []string{"blk_r1", "blk_r2"}[i%2]
			cs = append(cs, &account.Call{ID: fmt.Sprintf("call_r%d", i), TeamID: "team_r", Status: "ok", Credits: 1, Block: b, Held: 1, Started: t0})
		}
		if _, err := s.RecordCalls(ctx, cs); err != nil {
			t.Fatal(err)
		}
		// blk_r2 is closed by its owner with one call running, whose
		// record waits (in Redis, say): kept past the lease.
		if err := s.ReturnBlock(ctx, "blk_r2", 40-7); err != nil {
			t.Fatal(err)
		}
		if err := s.RenewLease(ctx, "o1", t0); err != nil {
			t.Fatal(err)
		}
		keep := func(_, id string) bool { return id == "blk_r2" }
		if n, err := s.ReleaseExpired(ctx, t0.Add(time.Minute), keep); err != nil || n != 1 {
			t.Fatalf("released %d, %v", n, err)
		}
		tm, _ := s.Team(ctx, "team_r")
		if tm.Credits != 388 || tm.Reserved != 1 {
			t.Fatalf("after blk_r1's release: %+v; want 388 credits, 1 held for the waiting record", tm)
		}
		wait := &account.Call{ID: "call_rw", TeamID: "team_r", Status: "ok", Credits: 1, Block: "blk_r2", Held: 1, Started: t0}
		if _, err := s.RecordCalls(ctx, []*account.Call{wait}); err != nil || wait.Credits != 1 {
			t.Fatalf("the waiting record: %v, %d charged", err, wait.Credits)
		}
		tm, _ = s.Team(ctx, "team_r")
		raw, rawRes, _ := s.RawTeam(ctx, "team_r")
		if rows, _ := s.Reservations(ctx); tm.Credits != 387 || tm.Reserved != 0 || raw != 387 || rawRes != 0 || rows != 0 {
			t.Fatalf("after the waiting record: %+v (row %d, %d), %d reservation rows; want 387 credits, nothing held", tm, raw, rawRes, rows)
		}
	})
}

// Two processes record calls inside one block while its owner closes it
// and a reader watches: every read shows between the charges committed
// before it and those begun, never more free credits than the team has,
// and at the end exactly one credit a call, nothing held, no row left.
func TestBlockFoldRaces(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			a, b := storetest.OpenPair(t, kind)
			const credits, size, calls = 10000, 2000, 1200
			mustTeam(t, a, "team_x", credits)
			if n, err := a.TakeBlock(ctx, account.Reservation{ID: "blk_x", TeamID: "team_x", Owner: "o", Credits: size}, 1, 0); err != nil || n != size {
				t.Fatalf("took %d, %v", n, err)
			}
			var begun, done, next atomic.Int64
			var wg sync.WaitGroup
			for w := range 6 {
				st := []*sqldb.Store{a, b}[w%2]
				r := rand.New(rand.NewPCG(uint64(w), 7))
				wg.Go(func() {
					for {
						k := int64(1 + r.IntN(5))
						first := next.Add(k) - k
						if first >= calls {
							return
						}
						k = min(k, calls-first)
						var cs []*account.Call
						for i := range k {
							cs = append(cs, &account.Call{ID: fmt.Sprintf("call_x%d", first+i), TeamID: "team_x", Status: "ok", Credits: 1, Block: "blk_x", Held: 1, Started: t0})
						}
						begun.Add(k)
						if _, err := st.RecordCalls(ctx, cs); err != nil {
							t.Error(err)
							return
						}
						done.Add(k)
					}
				})
			}
			wg.Go(func() {
				// The owner hands out the last call's credit early on
				// and closes the block: the rest goes back.
				time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
				if err := a.ReturnBlock(ctx, "blk_x", size-calls); err != nil {
					t.Error(err)
				}
			})
			stop := make(chan struct{})
			var reads atomic.Int64
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					lo := done.Load()
					tm, err := b.Team(ctx, "team_x")
					hi := begun.Load()
					if err != nil {
						t.Error(err)
						return
					}
					// Charges inside the block leave the free credits
					// as they were; its close gives back the unused.
					if paid := credits - tm.Credits; paid < lo || paid > hi || tm.Free() != credits-size && tm.Free() != credits-calls {
						t.Errorf("read %+v with %d to %d calls recorded", tm, lo, hi)
						return
					}
					reads.Add(1)
				}
			}()
			wg.Wait()
			close(stop)
			tm, _ := a.Team(ctx, "team_x")
			raw, rawRes, _ := a.RawTeam(ctx, "team_x")
			if rows, _ := a.Reservations(ctx); tm.Credits != credits-calls || tm.Reserved != 0 || raw != tm.Credits || rawRes != 0 || rows != 0 {
				t.Fatalf("at the end: %+v (row %d, %d), %d reservation rows; want %d credits, nothing held (%d reads)", tm, raw, rawRes, rows, credits-calls, reads.Load())
			}
		})
	}
}

func slicesAny(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

// A record inside a closed block that its process folds later
// (FoldLater) leaves the team row alone; the process's ReturnBlock with
// nothing to give back folds it, and the block, held by no call, goes.
func TestFoldLater(t *testing.T) {
	// A close that folds (ReturnBlock) and one that leaves the fold to its
	// running calls (CloseBlock without Fold) differ only in the team row until the
	// fold after the last call; every read of the team is the same.
	for _, c := range []struct {
		name            string
		close           func(s *sqldb.Store) func(context.Context, string, int64) error
		closed, records [2]int64 // the team row after the close, after the records
	}{
		{"ReturnBlock", func(s *sqldb.Store) func(context.Context, string, int64) error { return s.ReturnBlock }, [2]int64{997, 2}, [2]int64{997, 2}},
		{"CloseBlock unfolded", func(s *sqldb.Store) func(context.Context, string, int64) error {
			return func(ctx context.Context, id string, n int64) error {
				return s.CloseBlock(ctx, account.BlockClose{ID: id, Credits: n})
			}
		}, [2]int64{1000, 5}, [2]int64{1000, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, s *sqldb.Store) {
				ctx := context.Background()
				mustTeam(t, s, "team_l", 1000)
				if n, err := s.TakeBlock(ctx, account.Reservation{ID: "blk_l", TeamID: "team_l", Owner: "o1", Credits: 10}, 4, 0); err != nil || n != 10 {
					t.Fatalf("took %d, %v", n, err)
				}
				call := func(id string) *account.Call {
					return &account.Call{ID: id, TeamID: "team_l", Status: "ok", Credits: 1, Block: "blk_l", Held: 1, Started: t0, FoldLater: true}
				}
				raw := func(what string, credits, reserved, readCredits, readReserved int64) {
					t.Helper()
					c, r, err := s.RawTeam(ctx, "team_l")
					if err != nil || c != credits || r != reserved {
						t.Fatalf("%s: team row %d credits, %d reserved (%v); want %d, %d", what, c, r, err, credits, reserved)
					}
					// Read, folded or not: the calls recorded charged,
					// the running ones held.
					if tm, err := s.Team(ctx, "team_l"); err != nil || tm.Credits != readCredits || tm.Reserved != readReserved {
						t.Fatalf("%s: team %+v (%v); want %d credits, %d reserved", what, tm, err, readCredits, readReserved)
					}
				}
				if _, err := s.RecordCalls(ctx, []*account.Call{call("call_l1"), call("call_l2"), call("call_l3")}); err != nil {
					t.Fatal(err)
				}
				// Closed with 2 calls running: 5 unused given back, 3
				// folded (or left to the calls).
				if err := c.close(s)(ctx, "blk_l", 5); err != nil {
					t.Fatal(err)
				}
				raw("closed", c.closed[0], c.closed[1], 997, 2)
				if _, err := s.RecordCalls(ctx, []*account.Call{call("call_l4")}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.RecordCalls(ctx, []*account.Call{call("call_l5")}); err != nil {
					t.Fatal(err)
				}
				raw("closed, two records inside not folded", c.records[0], c.records[1], 995, 0)
				if err := s.ReturnBlock(ctx, "blk_l", 0); err != nil {
					t.Fatal(err)
				}
				raw("folded", 995, 0, 995, 0)
				if n, err := s.Reservations(ctx); err != nil || n != 0 {
					t.Fatalf("%d reservations left (%v), want the block gone", n, err)
				}
			})
		})
	}
}

// A roll closes a block with calls running (no fold), folds an older
// closed block whose calls are all recorded, and takes the next block,
// in one transaction: the team row and every read come out as the
// separate steps leave them; a roll whose take fails does nothing.
func TestRollBlock(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		mustTeam(t, s, "team_o", 1000)
		take := func(id string, credits int64) {
			t.Helper()
			if n, err := s.TakeBlock(ctx, account.Reservation{ID: id, TeamID: "team_o", Owner: "o1", Credits: credits}, 4, 0); err != nil || n != credits {
				t.Fatalf("took %d of %s, %v", n, id, err)
			}
		}
		n := 0
		record := func(block string, k int) {
			t.Helper()
			var cs []*account.Call
			for range k {
				n++
				cs = append(cs, &account.Call{ID: fmt.Sprintf("call_o%d", n), TeamID: "team_o", Status: "ok", Credits: 1, Block: block, Held: 1, Started: t0, FoldLater: true})
			}
			if _, err := s.RecordCalls(ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
		check := func(what string, credits, reserved, rawCredits, rawReserved int64, rows int) {
			t.Helper()
			tm, err := s.Team(ctx, "team_o")
			if err != nil || tm.Credits != credits || tm.Reserved != reserved {
				t.Fatalf("%s: team %+v (%v); want %d credits, %d reserved", what, tm, err, credits, reserved)
			}
			c, r, err := s.RawTeam(ctx, "team_o")
			if err != nil || c != rawCredits || r != rawReserved {
				t.Fatalf("%s: team row %d credits, %d reserved (%v); want %d, %d", what, c, r, err, rawCredits, rawReserved)
			}
			if got, err := s.Reservations(ctx); err != nil || got != rows {
				t.Fatalf("%s: %d reservation rows (%v), want %d", what, got, err, rows)
			}
		}
		// blk_p: 10 taken, 6 handed out and recorded, closed unfolded
		// with 2 of them running at the time (4 given back).
		take("blk_p", 10)
		record("blk_p", 4)
		if err := s.CloseBlock(ctx, account.BlockClose{ID: "blk_p", Credits: 4}); err != nil {
			t.Fatal(err)
		}
		record("blk_p", 2)
		// blk_a: 20 taken, 12 handed out: 9 recorded, 3 running.
		take("blk_a", 20)
		record("blk_a", 9)
		check("before the roll", 985, 11, 1000, 26, 2)
		// A roll whose take cannot be done (its id exists) does nothing.
		bad := account.Reservation{ID: "blk_a", TeamID: "team_o", Owner: "o1", Credits: 30}
		if _, err := s.RollBlock(ctx, account.BlockClose{ID: "blk_a", Credits: 8, Folds: []string{"blk_p"}}, bad, 4, 0); err == nil {
			t.Fatal("a roll taking an existing id: no error")
		}
		check("after the failed roll", 985, 11, 1000, 26, 2)
		// The roll: blk_a closes (8 back, unfolded), blk_p is folded and
		// gone, blk_b takes 30.
		next := account.Reservation{ID: "blk_b", TeamID: "team_o", Owner: "o1", Credits: 30}
		if got, err := s.RollBlock(ctx, account.BlockClose{ID: "blk_a", Credits: 8, Folds: []string{"blk_p"}}, next, 4, 0); err != nil || got != 30 {
			t.Fatalf("rolled into %d, %v", got, err)
		}
		check("after the roll", 985, 33, 994, 42, 2)
		// blk_a's running calls end; its fold goes with blk_b's close,
		// blk_b having handed out nothing.
		record("blk_a", 3)
		if err := s.CloseBlock(ctx, account.BlockClose{ID: "blk_b", Credits: 30, Fold: true, Folds: []string{"blk_a"}}); err != nil {
			t.Fatal(err)
		}
		check("all closed and folded", 982, 0, 982, 0, 0)
	})
}
