package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/postgres"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/sqlite"
	"github.com/runnel/runnel/account/store/storetest"
)

// TestUpgradeKeepsData builds a database at migration 1, fills it as the
// first release would, then opens it with the current code: every later
// migration applies and nothing written before is lost.
func TestUpgradeKeepsData(t *testing.T) {
	upgrade(t, 1, []string{
		`INSERT INTO teams (id, name, credits, reserved, created_at) VALUES ('team_a', 'a', 7, 1, 1)`,
		`INSERT INTO jobs (id, team_id, status, reserved, created_at, updated_at) VALUES ('job_a', 'team_a', 'pending', 1, 1, 1)`,
		`INSERT INTO calls (id, team_id, job_id, model, output, input_tokens, output_tokens, started_at, status)
		 VALUES ('call_a', 'team_a', 'job_a', 'm', 'kept output', 3, 4, 1, 'ok')`,
	}, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		tm, err := s.Team(ctx, "team_a")
		if err != nil || tm.Credits != 7 || tm.Reserved != 1 {
			t.Fatalf("team %+v %v", tm, err)
		}
		c, err := s.Call(ctx, "call_a")
		if err != nil || c.Output != "kept output" || c.Usage.Total() != 7 || c.Credits != 0 {
			t.Fatalf("call %+v %v", c, err)
		}
		// And the upgraded database works: settle the old job.
		if _, tm, settled, err := s.SettleJob(ctx, "job_a", account.JobCompleted, 1, t0); err != nil || !settled || tm.Credits != 6 || tm.Reserved != 0 {
			t.Fatalf("settle %+v %v %v", tm, settled, err)
		}
	})
}

// TestUpgradeKeepsBlockCharges upgrades a database at migration 7 in
// which an open credit block holds calls recorded inside it: after 0008
// (calls_link in place of calls_block) the team still reads what they
// owe, and the block's close folds exactly their charges.
func TestUpgradeKeepsBlockCharges(t *testing.T) {
	upgrade(t, 7, []string{
		`INSERT INTO teams (id, name, credits, reserved, created_at) VALUES ('team_b', 'b', 100, 10, 1)`,
		`INSERT INTO reservations (id, team_id, owner, credits, budget, created_at, block) VALUES ('blk_b', 'team_b', 'p1', 10, 0, 1, 1)`,
		`INSERT INTO calls (id, team_id, model, output, input_tokens, output_tokens, started_at, status, block_id, credits)
		 VALUES ('call_b1', 'team_b', 'm', '', 1, 1, 1, 'ok', 'blk_b', 3), ('call_b2', 'team_b', 'm', '', 1, 1, 2, 'ok', 'blk_b', 4),
		        ('call_n', 'team_b', 'm', '', 1, 1, 3, 'ok', NULL, 0)`,
	}, func(t *testing.T, s *sqldb.Store) {
		ctx := context.Background()
		tm, err := s.Team(ctx, "team_b")
		if err != nil || tm.Credits != 93 || tm.Reserved != 3 {
			t.Fatalf("team before the fold %+v %v, want 93 credits, 3 reserved", tm, err)
		}
		if err := s.CloseBlock(ctx, account.BlockClose{ID: "blk_b", Credits: 3, Fold: true}); err != nil {
			t.Fatal(err)
		}
		tm, err = s.Team(ctx, "team_b")
		if err != nil || tm.Credits != 93 || tm.Reserved != 0 {
			t.Fatalf("team after the fold %+v %v, want 93 credits, 0 reserved", tm, err)
		}
		// The fold charged the row itself, and the block, left with
		// nothing, is gone.
		if credits, reserved, err := s.RawTeam(ctx, "team_b"); err != nil || credits != 93 || reserved != 0 {
			t.Fatalf("team row after the fold: %d credits, %d reserved, %v; want 93, 0", credits, reserved, err)
		}
		if n, err := s.Reservations(ctx); err != nil || n != 0 {
			t.Fatalf("%d reservations left after the fold, %v", n, err)
		}
	})
}

// upgrade builds a database at migration from (SQLite and PostgreSQL),
// runs rows in it as that release would have written them, then opens it
// with the current code, which must apply every later migration, and
// hands the store to check.
func upgrade(t *testing.T, from int, rows []string, check func(*testing.T, *sqldb.Store)) {
	ctx := context.Background()
	fill := func(t *testing.T, db *sql.DB) {
		old, err := sqldb.New(ctx, sqldb.Options{Write: db, MaxVersion: from})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := old.Applied(ctx); len(got) != from || got[len(got)-1] != from {
			t.Fatalf("old database at %v, want %d", got, from)
		}
		for _, q := range rows {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	applied := func(t *testing.T, s *sqldb.Store) {
		want, _ := sqldb.Versions()
		if got, _ := s.Applied(ctx); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("applied %v, want %v", got, want)
		}
		check(t, s)
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		fill(t, db)
		s, err := sqlite.OpenFile(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		applied(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		url, schema := storetest.PostgresURL(), storetest.Schema()
		defer postgres.DropSchema(ctx, url, schema)
		admin, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		admin.Close()
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		db, err := sql.Open("pgx", url+sep+"search_path="+schema)
		if err != nil {
			t.Fatal(err)
		}
		fill(t, db)
		s, err := postgres.Open(ctx, url, schema)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		applied(t, s)
	})
}
