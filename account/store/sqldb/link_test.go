package sqldb_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
)

// A call inside a credit block adds an entry to as many indexes of calls
// as an anonymous call: its block and a job's calls share calls_link
// (migration 0008), which serves every read by block or job, and the
// reads still find exactly their calls.
func TestCallLinkIndex(t *testing.T) {
	each(t, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		idx, err := s.CallIndexes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(idx, "calls_link") || slices.Contains(idx, "calls_block") || slices.Contains(idx, "calls_job") || len(idx) != 4 {
			t.Fatalf("indexes on calls: %v", idx)
		}
		args := map[string]any{"block's charges": "blk_l", "team read": "team_l", "job's calls": "job_l"}
		for name, q := range sqldb.LinkQueries {
			plan, err := s.Plan(ctx, q, args[name])
			if err != nil {
				t.Fatal(name, err)
			}
			// SQLite: a search by the index's key, never a scan (of the
			// table or the index); PostgreSQL: an index scan.
			scan := strings.Contains(plan, "Seq Scan on calls")
			for _, l := range strings.Split(plan, "\n") {
				scan = scan || strings.HasPrefix(strings.TrimSpace(l), "SCAN ")
			}
			if scan || !strings.Contains(plan, "calls_link") {
				t.Errorf("%s: calls read without a search of calls_link:\n%s", name, plan)
			}
		}

		// The reads' results: a block's calls, a job's, an anonymous one.
		mustTeam(t, s, "team_l", 100)
		if n, err := s.TakeBlock(ctx, account.Reservation{ID: "blk_l", TeamID: "team_l", Owner: "o", Credits: 10}, 1, 0); err != nil || n != 10 {
			t.Fatalf("took %d, %v", n, err)
		}
		if err := s.CreateJob(ctx, account.Job{ID: "job_l", TeamID: "team_l", Status: account.JobPending, Reserved: 1, Created: t0, Updated: t0}); err != nil {
			t.Fatal(err)
		}
		cs := []*account.Call{
			{ID: "call_l1", TeamID: "team_l", Credits: 1, Block: "blk_l", Held: 1, Started: t0, Status: "ok"},
			{ID: "call_l2", TeamID: "team_l", Credits: 1, Block: "blk_l", Held: 1, Started: t0, Status: "ok"},
			{ID: "call_l3", TeamID: "team_l", JobID: "job_l", Started: t0, Status: "ok"},
			{ID: "call_l4", Started: t0, Status: "ok"},
		}
		if _, err := s.RecordCalls(ctx, cs); err != nil {
			t.Fatal(err)
		}
		if tm, err := s.Team(ctx, "team_l"); err != nil || tm.Credits != 98 || tm.Reserved != 8+1 {
			t.Fatalf("team %+v %v: want 98 credits, 9 reserved (the block's 8 left, the job's 1)", tm, err)
		}
		if got, err := s.Calls(ctx, "job_l"); err != nil || len(got) != 1 || got[0].ID != "call_l3" {
			t.Fatalf("job's calls %+v %v", got, err)
		}
		if tot, err := s.JobTotals(ctx, "job_l"); err != nil || tot.Calls != 1 {
			t.Fatalf("job's totals %+v %v", tot, err)
		}
	})
}
