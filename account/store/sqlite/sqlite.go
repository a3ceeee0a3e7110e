// Package sqlite opens the account store in an SQLite file with the pure-Go
// modernc.org/sqlite driver: WAL, a busy timeout so the CLI and a running
// server can share the file, and a single writer connection per process.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/runnel/runnel/account/store/sqldb"
)

// FileName is the database file's name inside the data directory.
const FileName = "runnel.db"

// Open opens (creating if needed) the store in dir/runnel.db.
func Open(ctx context.Context, dir string) (*sqldb.Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: data dir: %w", err)
	}
	return OpenFile(ctx, filepath.Join(dir, FileName))
}

// OpenFile opens the store in the SQLite file at path.
func OpenFile(ctx context.Context, path string) (*sqldb.Store, error) {
	q := url.Values{}
	// synchronous=NORMAL in WAL mode: a commit survives the process being
	// killed (it is in the WAL), only an OS crash can lose the last ones.
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock when they begin, so two writers
	// wait on the busy timeout instead of deadlocking on an upgrade.
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	dsn := "file:" + path + "?"
	w, err := sql.Open("sqlite", dsn+wq.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn+q.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	r.SetConnMaxIdleTime(0)
	s, err := sqldb.New(ctx, sqldb.Options{Write: w, Read: r, Positional: true, IsUnique: isUnique, Retry: isBusy, Changes: marker{path + "-changes"}})
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return s, nil
}

func code(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := code(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isBusy: the busy timeout already waited; one more attempt is cheap.
func isBusy(err error) bool {
	c := code(err) & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}
