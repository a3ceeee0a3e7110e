package sqldb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
)

// A batch stored by RecordCalls (plain calls in bulk) leaves every team
// and every call exactly as storing the same calls one by one with
// RecordCall does: credits, reservations, spend and held budget to the
// bit, what each call was charged, and which were duplicates. The batches
// mix teams, job calls, calls without a team, duplicates (stored before
// and within the batch), reservations gone already, calls of credit
// blocks (charged what they held or not), a team that cannot
// pay every call, awkward float costs, and more calls than one bulk
// statement holds.
func TestRecordCallsMatchesOneByOne(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			for seed := range uint64(4) {
				bulk, single := storetest.Open(t, kind), storetest.Open(t, kind)
				batches := recordScenario(t, seed, bulk, single)
				short := 0 // calls charged less than asked: the team ran out
				for bi, batch := range batches {
					a, b := cloneCalls(batch), cloneCalls(batch)
					dup, err := bulk.RecordCalls(context.Background(), a)
					if err != nil {
						t.Fatalf("seed %d batch %d: %v", seed, bi, err)
					}
					for i, c := range b {
						err := single.RecordCall(context.Background(), c, nil)
						if (err != nil) != dup[i] || err != nil && err != account.ErrExists {
							t.Fatalf("seed %d batch %d call %d (%s): one by one %v, bulk dup %v", seed, bi, i, c.ID, err, dup[i])
						}
						if a[i].Credits != c.Credits {
							t.Fatalf("seed %d batch %d call %d: bulk charged %d, one by one %d (%+v)", seed, bi, i, a[i].Credits, c.Credits, *batch[i])
						}
						if !dup[i] && a[i].Credits < batch[i].Credits {
							short++
						}
					}
				}
				if short == 0 {
					t.Fatalf("seed %d: no call was charged less than asked; the scenario misses that case", seed)
				}
				// Calls recorded inside a block are owed until it is
				// folded; readers see them charged already.
				sameTeams(t, fmt.Sprint("seed ", seed, ", blocks open"), bulk, single)
				for _, s := range []*sqldb.Store{bulk, single} {
					for _, tm := range []string{"team_b1", "team_b3"} {
						if err := s.ReturnBlock(context.Background(), "blk_"+tm, 0); err != nil {
							t.Fatal(err)
						}
					}
				}
				sameState(t, fmt.Sprint("seed ", seed), bulk, single)
			}
		})
	}
}

var bulkTeams = []string{"team_b1", "team_b2", "team_b3"}

// recordScenario sets up the same teams, job and reservations in both
// stores and returns batches of calls to store in both.
func recordScenario(t *testing.T, seed uint64, stores ...*sqldb.Store) [][]*account.Call {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 13))
	credits := []int64{1000, 40, 7} // the last cannot pay for all its calls
	for _, s := range stores {
		for i, tm := range bulkTeams {
			mustTeam(t, s, tm, credits[i])
		}
		if err := s.SetTeamLimits(ctx, "team_b2", account.Limits{}, 50); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateJob(ctx, account.Job{ID: "job_b", TeamID: "team_b1", Status: account.JobPending, Reserved: 3, Created: t0}); err != nil {
			t.Fatal(err)
		}
		// Credit blocks, smaller than the calls made from them.
		for _, b := range []struct {
			team string
			n    int64
		}{{"team_b1", 30}, {"team_b3", 3}} {
			if n, err := s.TakeBlock(ctx, account.Reservation{ID: "blk_" + b.team, TeamID: b.team, Owner: "o", Credits: b.n}, 2, 0); err != nil || n != b.n {
				t.Fatalf("block of %s: %d, %v", b.team, n, err)
			}
		}
	}
	var batches [][]*account.Call
	blockLeft := map[string]int64{"blk_team_b1": 30, "blk_team_b3": 3}
	n := 0
	var earlier []string
	for bi := range 4 {
		size := []int{1, 5, 45, 70}[bi]
		var batch []*account.Call
		for range size {
			tm := bulkTeams[r.IntN(len(bulkTeams))]
			c := &account.Call{
				ID: fmt.Sprintf("call_%d", n), TeamID: tm, KeyID: "key_x", Provider: "mock", Model: "m",
				Request: `{"model":"m"}`, Output: "out", Usage: account.Usage{InputTokens: 3, OutputTokens: int64(r.IntN(50))},
				Cost:    account.Cost{Input: 0.1, Output: r.Float64() / 3, Total: 0.1 + r.Float64()/7},
				Started: t0.Add(time.Duration(n) * time.Second), TTFT: time.Millisecond, Duration: time.Second,
				Finish: "stop", Status: "ok", Credits: 1,
			}
			n++
			switch k := r.IntN(10); {
			case k == 0 && len(earlier) > 0: // stored before
				c.ID = earlier[r.IntN(len(earlier))]
			case k == 1 && len(batch) > 0: // twice in this batch: the same call
				d := batch[r.IntN(len(batch))]
				c.ID, c.TeamID, c.KeyID, c.JobID, c.Credits = d.ID, d.TeamID, d.KeyID, d.JobID, d.Credits
			case k == 2:
				c.JobID, c.TeamID, c.Credits = "job_b", "team_b1", 0
			case k == 3:
				c.TeamID, c.KeyID, c.Credits = "", "", 0
			case k == 4:
				c.Status, c.Credits = "error", 0
			}
			if b := "blk_" + c.TeamID; c.JobID == "" && blockLeft[b] > 0 && r.IntN(3) == 0 {
				// Within what the block holds, as its process admits:
				// most charged what they held (recorded inside it),
				// some held more (recorded on the team row).
				c.Block, c.Held = b, 1
				if blockLeft[b] >= 2 && r.IntN(4) == 0 {
					c.Held = 2
				}
				blockLeft[b] -= c.Held
			} else if c.TeamID != "" && c.JobID == "" && r.IntN(5) > 0 {
				c.Reservation = fmt.Sprintf("res_%d", n)
				res := account.Reservation{ID: c.Reservation, TeamID: c.TeamID, Owner: "o", Credits: c.Credits}
				if c.TeamID == "team_b2" {
					res.Budget = 0.3
				}
				for _, s := range stores {
					if err := s.Reserve(ctx, res); err != nil {
						// Too few free credits: the call goes
						// without (as after a lost lease).
						c.Reservation = ""
						break
					}
				}
				if r.IntN(8) == 0 && c.Reservation != "" { // gone already
					for _, s := range stores {
						if err := s.Release(ctx, c.Reservation); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			batch = append(batch, c)
		}
		for _, c := range batch {
			earlier = append(earlier, c.ID)
		}
		batches = append(batches, batch)
	}
	return batches
}

func cloneCalls(cs []*account.Call) []*account.Call {
	out := make([]*account.Call, len(cs))
	for i, c := range cs {
		cc := *c
		out[i] = &cc
	}
	return out
}

func sameTeams(t *testing.T, what string, a, b *sqldb.Store) {
	t.Helper()
	ctx := context.Background()
	for _, id := range bulkTeams {
		ta, err1 := a.Team(ctx, id)
		tb, err2 := b.Team(ctx, id)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(ta, tb) {
			t.Fatalf("%s: team %s: bulk %+v (%v), one by one %+v (%v)", what, id, ta, err1, tb, err2)
		}
	}
}

func sameState(t *testing.T, what string, a, b *sqldb.Store) {
	t.Helper()
	ctx := context.Background()
	sameTeams(t, what, a, b)
	ca, err1 := a.RecentCalls(ctx, account.UsageFilter{}, 1000)
	cb, err2 := b.RecentCalls(ctx, account.UsageFilter{}, 1000)
	if err1 != nil || err2 != nil || len(ca) == 0 || !reflect.DeepEqual(ca, cb) {
		t.Fatalf("%s: calls differ (%d against %d; %v %v)", what, len(ca), len(cb), err1, err2)
	}
	ja, _ := a.Job(ctx, "job_b")
	jb, _ := b.Job(ctx, "job_b")
	if !reflect.DeepEqual(ja, jb) {
		t.Fatalf("%s: job: %+v against %+v", what, ja, jb)
	}
	na, _ := a.Reservations(ctx)
	nb, _ := b.Reservations(ctx)
	if na != nb {
		t.Fatalf("%s: %d reservations left against %d", what, na, nb)
	}
}
