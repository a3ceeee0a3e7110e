package sqldb_test

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/account/store/postgres"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
)

const insertCallRow = `INSERT INTO calls (id, team_id, model, output, input_tokens, output_tokens, started_at, status) VALUES ($1, 'team_w', 'm', '', 1, 1, 1, 'ok')`

// The upgrade to 0008 builds calls_link while a writer's transaction on
// calls is open: built in the migration's transaction, the index would
// wait for that writer and every later write would queue behind it; built
// concurrently, a write goes through while the build waits.
func TestIndexBuildLetsWritesThrough(t *testing.T) {
	ctx := context.Background()
	url, schema, db := oldPostgres(t, 7)
	blocker, blockerPID := openWriter(t, db, "call_w1")
	done := make(chan error, 1)
	go func() {
		s, err := postgres.Open(ctx, url, schema)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	waitBlocked(t, db, `query LIKE '%CREATE INDEX%calls_link%'`, blockerPID)

	// A write while the index builds. lock_timeout turns a write queued
	// behind a blocking build into a failure instead of a hang.
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `SET lock_timeout = '60s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, insertCallRow, "call_w2"); err != nil {
		t.Fatalf("a write while calls_link builds: %v", err)
	}
	if err := blocker.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkUpgraded(t, url, schema, db, 2)
}

// A build of calls_link that did not finish (cancelled here, as a killed
// process's would be) leaves an invalid index; the upgrade drops it and
// builds it again.
func TestInvalidIndexBuiltAgain(t *testing.T) {
	ctx := context.Background()
	url, schema, db := oldPostgres(t, 7)
	blocker, blockerPID := openWriter(t, db, "call_w1")
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pid int
	if err := c.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	go func() {
		_, err := c.ExecContext(ctx, `CREATE INDEX CONCURRENTLY calls_link ON calls ((CAST(COALESCE(block_id, job_id) AS TEXT)), credits)`)
		failed <- err
	}()
	waitBlocked(t, db, `pid = `+strconv.Itoa(pid), blockerPID)
	if _, err := db.ExecContext(ctx, `SELECT pg_cancel_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	if err := <-failed; err == nil || !strings.Contains(err.Error(), "cancel") {
		t.Fatalf("the cancelled build: %v", err)
	}
	if err := blocker.Commit(); err != nil {
		t.Fatal(err)
	}
	if valid, err := indexValid(db, "calls_link"); err != nil || valid {
		t.Fatalf("calls_link valid %v (%v) after its build was cancelled; want an invalid index", valid, err)
	}
	s, err := postgres.Open(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkUpgraded(t, url, schema, db, 1)
}

// oldPostgres makes a PostgreSQL schema at migration from and returns it
// with a pool whose search path is it.
func oldPostgres(t *testing.T, from int) (url, schema string, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	url, schema = storetest.PostgresURL(), storetest.Schema()
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("PostgreSQL at %s (start it with scripts/services): %v", url, err)
	}
	t.Cleanup(func() { postgres.DropSchema(context.Background(), url, schema) })
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err = sql.Open("pgx", url+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := sqldb.New(ctx, sqldb.Options{Write: db, MaxVersion: from}); err != nil {
		t.Fatal(err)
	}
	return url, schema, db
}

// openWriter begins a transaction that writes a call and stays open.
func openWriter(t *testing.T, db *sql.DB, id string) (*sql.Tx, int) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	if _, err := tx.ExecContext(ctx, insertCallRow, id); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return tx, pid
}

// waitBlocked waits until a session that where picks out waits for
// blocker's. The bound only turns a build that never starts into a
// failure.
func waitBlocked(t *testing.T, db *sql.DB, where string, blocker int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND `+where+
			` AND $1 = ANY(pg_blocking_pids(pid))`, blocker).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session (%s) came to wait for the open writer", where)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func indexValid(db *sql.DB, name string) (bool, error) {
	var valid bool
	err := db.QueryRow(`SELECT i.indisvalid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
		WHERE x.relname = $1 AND x.relnamespace = current_schema()::regnamespace`, name).Scan(&valid)
	return valid, err
}

// checkUpgraded checks that the schema is at the newest migration with a
// valid calls_link in place of the indexes it replaced, and holds calls
// calls.
func checkUpgraded(t *testing.T, url, schema string, db *sql.DB, calls int) {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, _ := sqldb.Versions()
	if got, err := s.Applied(ctx); err != nil || len(got) != len(want) {
		t.Fatalf("applied %v (%v), want %v", got, err, want)
	}
	idx, err := s.CallIndexes(ctx)
	if err != nil || strings.Contains(strings.Join(idx, " "), "calls_block") || !strings.Contains(strings.Join(idx, " "), "calls_link") {
		t.Fatalf("indexes on calls %v (%v)", idx, err)
	}
	if valid, err := indexValid(db, "calls_link"); err != nil || !valid {
		t.Fatalf("calls_link valid %v (%v)", valid, err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM calls`).Scan(&n); err != nil || n != calls {
		t.Fatalf("%d calls (%v), want %d", n, err, calls)
	}
}

// Replicas that start at once on one database upgrade it once between
// them: each waits for the lock (by polling) and finds the others' work
// done, whether the indexes went into a migration's transaction (from 1,
// where 0005 alters the tables it indexes) or were built concurrently.
func TestConcurrentUpgrades(t *testing.T) {
	for _, from := range []int{1, 7} {
		t.Run(strconv.Itoa(from), func(t *testing.T) {
			url, schema, db := oldPostgres(t, from)
			errs := make(chan error, 4)
			for range cap(errs) {
				go func() {
					s, err := postgres.Open(context.Background(), url, schema)
					if err == nil {
						s.Close()
					}
					errs <- err
				}()
			}
			for range cap(errs) {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			checkUpgraded(t, url, schema, db, 0)
		})
	}
}
