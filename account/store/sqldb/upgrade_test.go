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
	ctx := context.Background()
	fill := func(t *testing.T, db *sql.DB) {
		old, err := sqldb.New(ctx, sqldb.Options{Write: db, MaxVersion: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := old.Applied(ctx); fmt.Sprint(got) != "[1]" {
			t.Fatalf("old database at %v", got)
		}
		for _, q := range []string{
			`INSERT INTO teams (id, name, credits, reserved, created_at) VALUES ('team_a', 'a', 7, 1, 1)`,
			`INSERT INTO jobs (id, team_id, status, reserved, created_at, updated_at) VALUES ('job_a', 'team_a', 'pending', 1, 1, 1)`,
			`INSERT INTO calls (id, team_id, job_id, model, output, input_tokens, output_tokens, started_at, status)
			 VALUES ('call_a', 'team_a', 'job_a', 'm', 'kept output', 3, 4, 1, 'ok')`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	check := func(t *testing.T, s *sqldb.Store) {
		want, _ := sqldb.Versions()
		if got, _ := s.Applied(ctx); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("applied %v, want %v", got, want)
		}
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
		check(t, s)
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
		check(t, s)
	})
}
