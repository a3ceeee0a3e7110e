package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrationKey is the advisory lock that keeps two processes from
// migrating one database at once. Earlier releases take the same key
// per migration transaction (pg_advisory_xact_lock); a session lock and
// a transaction lock on one key exclude each other, so a replica of
// either release waits for the other.
const migrationKey = 72657301

// migrator is sqldb's Migrator for PostgreSQL: a session advisory lock,
// and indexes built with CREATE INDEX CONCURRENTLY, which lets writes to
// the table go on while it builds.
type migrator struct{}

// Lock takes the migration lock by polling pg_try_advisory_lock. A
// process waiting in pg_advisory_lock is in the middle of a statement,
// with a snapshot; CREATE INDEX CONCURRENTLY in the lock's holder waits
// for every older snapshot to end, and the two would wait for each other
// until PostgreSQL's deadlock check aborted one. Between tries a waiting
// process holds no snapshot.
func (migrator) Lock(ctx context.Context, c *sql.Conn) error {
	wait := 2 * time.Millisecond
	for {
		var ok bool
		if err := c.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(migrationKey)).Scan(&ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// BuildIndex builds the index concurrently. A build that did not finish
// (its process stopped, or the build was cancelled or failed) leaves an
// invalid index of the name, which is dropped and built again.
func (migrator) BuildIndex(ctx context.Context, c *sql.Conn, name, create string) error {
	var valid bool
	err := c.QueryRowContext(ctx, `SELECT i.indisvalid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
		WHERE x.relname = $1 AND x.relnamespace = current_schema()::regnamespace`, name).Scan(&valid)
	switch {
	case err == nil && valid:
		return nil
	case err == nil:
		if _, err := c.ExecContext(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
			return err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	rest, ok := strings.CutPrefix(create, "CREATE INDEX ")
	if !ok {
		return errors.New("not a CREATE INDEX statement")
	}
	_, err = c.ExecContext(ctx, `CREATE INDEX CONCURRENTLY `+rest)
	return err
}
