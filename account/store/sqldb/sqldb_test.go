package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/postgres"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/sqlite"
	"github.com/runnel/runnel/account/store/storetest"
)

func each(t *testing.T, f func(t *testing.T, s *sqldb.Store)) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) { f(t, storetest.Open(t, kind)) })
	}
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func mustTeam(t *testing.T, s account.Store, id string, credits int64) {
	t.Helper()
	if err := s.CreateTeam(context.Background(), account.Team{ID: id, Name: id + "-name", Credits: credits, Created: t0}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	want, err := sqldb.Versions()
	if err != nil || len(want) == 0 {
		t.Fatalf("versions %v %v", want, err)
	}
	check := func(t *testing.T, s *sqldb.Store) {
		got, err := s.Applied(ctx)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("applied %v (%v), want %v", got, err, want)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		s, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		mustTeam(t, s, "team_a", 5)
		s.Close()
		// Reopening runs no migration twice and keeps the data.
		s, err = sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		check(t, s)
		if tm, err := s.Team(ctx, "team_a"); err != nil || tm.Credits != 5 {
			t.Fatalf("team after reopen: %+v %v", tm, err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := storetest.Open(t, "postgres")
		_ = s
		// Concurrent opens of the same schema serialize on the advisory
		// lock and all succeed.
		schema := storetest.Schema()
		url := storetest.PostgresURL()
		defer postgres.DropSchema(ctx, url, schema)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		stores := make([]*sqldb.Store, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = postgres.Open(ctx, url, schema)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			check(t, stores[i])
		}
		mustTeam(t, stores[0], "team_a", 5)
		if tm, err := stores[3].Team(ctx, "team_a"); err != nil || tm.Credits != 5 {
			t.Fatalf("team from another pool: %+v %v", tm, err)
		}
		for _, s := range stores {
			s.Close()
		}
	})
}

func TestTeamsAndKeys(t *testing.T) {
	ctx := context.Background()
	each(t, func(t *testing.T, s *sqldb.Store) {
		mustTeam(t, s, "team_a", 10)
		if err := s.CreateTeam(ctx, account.Team{ID: "team_b", Name: "team_a-name", Created: t0}); !errors.Is(err, account.ErrExists) {
			t.Fatalf("duplicate name: %v", err)
		}
		mustTeam(t, s, "team_b", 0)
		if _, err := s.Team(ctx, "nope"); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("missing team: %v", err)
		}
		ts, err := s.Teams(ctx)
		if err != nil || len(ts) != 2 || ts[0].ID != "team_a" || ts[0].Credits != 10 || ts[0].Name != "team_a-name" || !ts[0].Created.Equal(t0) {
			t.Fatalf("teams %+v %v", ts, err)
		}
		if err := s.SetTeamLimits(ctx, "team_a", account.Limits{RPM: 7, TPM: 900}, 2.5); err != nil {
			t.Fatal(err)
		}
		if tm, _ := s.Team(ctx, "team_a"); tm.Limits != (account.Limits{RPM: 7, TPM: 900}) || tm.MaxBudget != 2.5 {
			t.Fatalf("limits %+v", tm)
		}
		tm, err := s.AddCredits(ctx, "team_a", 5)
		if err != nil || tm.Credits != 15 {
			t.Fatalf("add: %+v %v", tm, err)
		}
		if _, err := s.AddCredits(ctx, "team_a", -16); !errors.Is(err, account.ErrInsufficientCredits) {
			t.Fatalf("below zero: %v", err)
		}
		if _, err := s.AddCredits(ctx, "nope", 1); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("missing team: %v", err)
		}

		k := account.Key{ID: "key_1", TeamID: "team_a", Name: "ci", Prefix: "rk_abcdefgh", Hash: []byte{1, 2, 3}, Limits: account.Limits{RPM: 3}, Created: t0}
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateKey(ctx, account.Key{ID: "key_x", TeamID: "nope", Prefix: "p", Hash: []byte{9}, Created: t0}); err == nil {
			t.Fatal("key for a missing team was created")
		}
		ks, err := s.KeysByPrefix(ctx, "rk_abcdefgh")
		if err != nil || len(ks) != 1 || string(ks[0].Hash) != string([]byte{1, 2, 3}) || ks[0].Limits.RPM != 3 || !ks[0].Revoked.IsZero() {
			t.Fatalf("by prefix %+v %v", ks, err)
		}
		if ks, _ := s.Keys(ctx, "team_b"); len(ks) != 0 {
			t.Fatalf("team_b keys %+v", ks)
		}
		if err := s.RevokeKey(ctx, "key_1", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, "key_1", t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.Key(ctx, "key_1"); !k.Revoked.Equal(t0.Add(time.Second)) {
			t.Fatalf("revoked at %v", k.Revoked)
		}
		if err := s.RevokeKey(ctx, "nope", t0); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("revoke missing: %v", err)
		}
	})
}

func TestJobLifecycle(t *testing.T) {
	ctx := context.Background()
	each(t, func(t *testing.T, s *sqldb.Store) {
		mustTeam(t, s, "team_a", 2)
		job := func(id string) account.Job {
			return account.Job{ID: id, TeamID: "team_a", Type: "chat", Status: account.JobPending, Reserved: 1, Created: t0}
		}
		for _, id := range []string{"job_1", "job_2"} {
			if err := s.CreateJob(ctx, job(id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateJob(ctx, job("job_3")); !errors.Is(err, account.ErrInsufficientCredits) {
			t.Fatalf("third job: %v", err)
		}
		if _, err := s.Job(ctx, "job_3"); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("refused job was stored: %v", err)
		}
		if tm, _ := s.Team(ctx, "team_a"); tm.Credits != 2 || tm.Reserved != 2 {
			t.Fatalf("after reserve %+v", tm)
		}
		if err := s.StartCall(ctx, "job_1", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		j, tm, settled, err := s.SettleJob(ctx, "job_1", account.JobCompleted, 1, t0.Add(2*time.Second))
		if err != nil || !settled || j.Status != account.JobCompleted || j.Charged != 1 || tm.Credits != 1 || tm.Reserved != 1 {
			t.Fatalf("complete: %+v %+v %v %v", j, tm, settled, err)
		}
		// Completing again changes nothing.
		j, tm, settled, err = s.SettleJob(ctx, "job_1", account.JobCompleted, 1, t0.Add(3*time.Second))
		if err != nil || settled || j.Charged != 1 || tm.Credits != 1 || tm.Reserved != 1 || !j.Completed.Equal(t0.Add(2*time.Second)) {
			t.Fatalf("complete twice: %+v %+v %v %v", j, tm, settled, err)
		}
		if err := s.StartCall(ctx, "job_1", t0); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("call on completed job: %v", err)
		}
		// A failed job charges nothing, whatever charge is asked.
		j, tm, _, err = s.SettleJob(ctx, "job_2", account.JobFailed, 1, t0)
		if err != nil || j.Charged != 0 || tm.Credits != 1 || tm.Reserved != 0 {
			t.Fatalf("fail: %+v %+v %v", j, tm, err)
		}
		if _, _, _, err := s.SettleJob(ctx, "nope", account.JobCompleted, 1, t0); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("settle missing: %v", err)
		}
		// A charge larger than what the team can pay stops at zero.
		if err := s.CreateJob(ctx, job("job_4")); err != nil {
			t.Fatal(err)
		}
		j, tm, _, err = s.SettleJob(ctx, "job_4", account.JobCompleted, 50, t0)
		if err != nil || j.Charged != 1 || tm.Credits != 0 || tm.Reserved != 0 {
			t.Fatalf("overcharge: %+v %+v %v", j, tm, err)
		}
		// Stale jobs are those not touched since the cutoff.
		if _, err := s.AddCredits(ctx, "team_a", 2); err != nil {
			t.Fatal(err)
		}
		old := job("job_old")
		old.Created = t0.Add(-time.Hour)
		if err := s.CreateJob(ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateJob(ctx, job("job_new")); err != nil {
			t.Fatal(err)
		}
		ids, err := s.StaleJobs(ctx, t0.Add(-time.Minute), 10)
		if err != nil || fmt.Sprint(ids) != "[job_old]" {
			t.Fatalf("stale %v %v", ids, err)
		}
	})
}

func TestRecordCall(t *testing.T) {
	ctx := context.Background()
	each(t, func(t *testing.T, s *sqldb.Store) {
		mustTeam(t, s, "team_a", 3)
		if err := s.CreateJob(ctx, account.Job{ID: "job_1", TeamID: "team_a", Status: account.JobPending, Reserved: 1, Created: t0}); err != nil {
			t.Fatal(err)
		}
		c := account.Call{ID: "call_1", TeamID: "team_a", KeyID: "key_1", JobID: "job_1", Provider: "mock", Model: "mock/default",
			Request: `{"model":"mock/default"}`, Output: "héllo wörld", Thinking: "hmm", ToolCalls: `[{"id":"t1"}]`,
			Usage: account.Usage{InputTokens: 7, OutputTokens: 3, ReasoningTokens: 1, Estimated: true},
			Cost:  account.Cost{Input: 0.25, Output: 0.5, Total: 0.75}, Started: t0, TTFT: 1500 * time.Microsecond,
			Duration: 20 * time.Millisecond, Finish: "stop", Status: "ok"}
		if err := s.RecordCall(ctx, &c, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordCall(ctx, &c, nil); !errors.Is(err, account.ErrExists) {
			t.Fatalf("duplicate record: %v", err)
		}
		got, err := s.Call(ctx, "call_1")
		if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", c) {
			t.Fatalf("call round trip:\n got %+v\nwant %+v\n%v", got, c, err)
		}
		c2 := account.Call{ID: "call_2", TeamID: "team_a", KeyID: "key_2", JobID: "job_2", Model: "other", Started: t0.Add(time.Minute),
			Usage: account.Usage{InputTokens: 1, OutputTokens: 1}, Cost: account.Cost{Total: 0.25}, Status: "error", ErrorCode: "upstream_error", ErrorMsg: "boom"}
		if err := s.CreateJob(ctx, account.Job{ID: "job_2", TeamID: "team_a", Status: account.JobPending, Reserved: 1, Implicit: true, Created: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordCall(ctx, &c2, &account.Settlement{JobID: "job_2", Status: account.JobFailed, Charge: 1}); err != nil {
			t.Fatal(err)
		}
		if j, _ := s.Job(ctx, "job_2"); j.Status != account.JobFailed || j.Charged != 0 || !j.Implicit {
			t.Fatalf("implicit job %+v", j)
		}
		tm, _ := s.Team(ctx, "team_a")
		if tm.Spent != 1.0 || tm.Reserved != 1 || tm.Credits != 3 {
			t.Fatalf("team %+v", tm)
		}
		tot, err := s.JobTotals(ctx, "job_1")
		if err != nil || tot.Calls != 1 || tot.Usage != c.Usage || tot.Cost != c.Cost {
			t.Fatalf("totals %+v %v", tot, err)
		}
		cs, err := s.Calls(ctx, "job_1")
		if err != nil || len(cs) != 1 || cs[0].Output != "héllo wörld" {
			t.Fatalf("calls %+v %v", cs, err)
		}
		rows, err := s.Usage(ctx, account.UsageFilter{TeamID: "team_a", From: t0, To: t0.Add(time.Hour)})
		if err != nil || len(rows) != 2 {
			t.Fatalf("usage %+v %v", rows, err)
		}
		if r := rows[1]; r.KeyID != "key_2" || r.Calls != 1 || r.Errors != 1 || r.Usage.Total() != 2 || r.Cost.Total != 0.25 {
			t.Fatalf("usage row %+v", r)
		}
		if rows, _ := s.Usage(ctx, account.UsageFilter{Model: "other"}); len(rows) != 1 || rows[0].Model != "other" {
			t.Fatalf("by model %+v", rows)
		}
		if rows, _ := s.Usage(ctx, account.UsageFilter{From: t0.Add(30 * time.Second), To: t0.Add(time.Hour)}); len(rows) != 1 || rows[0].KeyID != "key_2" {
			t.Fatalf("by time %+v", rows)
		}
		if cs, err := s.RecentCalls(ctx, account.UsageFilter{TeamID: "team_a"}, 10); err != nil || len(cs) != 2 || cs[0].ID != "call_2" || cs[1].Output != "héllo wörld" {
			t.Fatalf("recent calls %+v %v", cs, err)
		}
		if cs, _ := s.RecentCalls(ctx, account.UsageFilter{}, 1); len(cs) != 1 {
			t.Fatalf("limit 1: %d calls", len(cs))
		}
		if rows, _ := s.Usage(ctx, account.UsageFilter{TeamID: "x' OR '1'='1"}); len(rows) != 0 {
			t.Fatalf("injection matched %+v", rows)
		}
	})
}

// TestConcurrentCredits: many concurrent reservations and settlements on
// one team end at an exact balance, never below zero, never double.
func TestConcurrentCredits(t *testing.T) {
	ctx := context.Background()
	each(t, func(t *testing.T, s *sqldb.Store) {
		const credits, attempts = 300, 500
		mustTeam(t, s, "team_a", credits)
		var created atomic.Int64
		var wg sync.WaitGroup
		for i := range attempts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.CreateJob(ctx, account.Job{ID: fmt.Sprintf("job_%d", i), TeamID: "team_a", Status: account.JobPending, Reserved: 1, Created: t0})
				switch {
				case err == nil:
					created.Add(1)
				case !errors.Is(err, account.ErrInsufficientCredits):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if created.Load() != credits {
			t.Fatalf("%d jobs reserved credits, want %d", created.Load(), credits)
		}
		// 1,000 concurrent completes: every job completed several times
		// at once, half of the jobs failed instead.
		var settledN atomic.Int64
		for i := range attempts {
			for r := 0; r < 2; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status := account.JobCompleted
					if i%2 == 1 {
						status = account.JobFailed
					}
					_, _, settled, err := s.SettleJob(ctx, fmt.Sprintf("job_%d", i), status, 1, t0)
					if err != nil && !errors.Is(err, account.ErrNotFound) {
						t.Error(err)
					}
					if settled {
						settledN.Add(1)
					}
				}()
			}
		}
		wg.Wait()
		if settledN.Load() != credits {
			t.Fatalf("%d settlements, want %d", settledN.Load(), credits)
		}
		var completed int64
		for i := range attempts {
			j, err := s.Job(ctx, fmt.Sprintf("job_%d", i))
			if errors.Is(err, account.ErrNotFound) {
				continue
			}
			if j.Status == account.JobCompleted {
				completed++
				if j.Charged != 1 {
					t.Fatalf("job %s charged %d", j.ID, j.Charged)
				}
			}
		}
		tm, _ := s.Team(ctx, "team_a")
		if tm.Credits != credits-completed || tm.Reserved != 0 || tm.Credits < 0 {
			t.Fatalf("team %+v after %d completed jobs", tm, completed)
		}
	})
}

// The record of a create-and-call-stream call stored after its job
// expired (it came after the job's hold was let go) completes the job
// and charges the team what it can (its credits may have gone to other
// calls meanwhile), once; the expiry had charged nothing.
func TestLateRecordOfExpiredJob(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, kind)
			mustTeam(t, s, "team_late", 3)
			job := func(id string) {
				if err := s.CreateJob(ctx, account.Job{ID: id, TeamID: "team_late", Status: account.JobPending, Reserved: 2, Created: t0}); err != nil {
					t.Fatal(err)
				}
			}
			job("job_late1")
			if _, _, ok, err := s.SettleJob(ctx, "job_late1", account.JobExpired, 0, t0); !ok || err != nil {
				t.Fatalf("expire: %v %v", ok, err)
			}
			job("job_late2") // the expired job's credits went to another: 1 is free
			rec := func(id string, charge int64) error {
				return s.RecordCall(ctx, &account.Call{ID: id, TeamID: "team_late", JobID: "job_late1", Status: "ok", Started: t0,
					Settle: &account.Settlement{JobID: "job_late1", Status: account.JobCompleted, Charge: charge}}, nil)
			}
			if err := rec("call_late", 2); err != nil {
				t.Fatal(err)
			}
			if err := rec("call_late", 2); !errors.Is(err, account.ErrExists) {
				t.Fatalf("the same record again: %v; want ErrExists", err)
			}
			if err := rec("call_other", 2); err != nil {
				t.Fatal(err)
			}
			j, _ := s.Job(ctx, "job_late1")
			tm, _ := s.Team(ctx, "team_late")
			if j.Status != account.JobCompleted || j.Charged != 1 || tm.Credits != 2 || tm.Reserved != 2 {
				t.Fatalf("job %+v, team %+v; want completed, charged once the 1 credit free", j, tm)
			}
		})
	}
}
