// Package storetest opens fresh account stores for tests: SQLite in a
// temporary directory and PostgreSQL in a schema of its own, dropped when
// the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/runnel/runnel/account/store/postgres"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/sqlite"
)

// DefaultPostgresURL is the test database scripts/services starts.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL is DATABASE_URL or DefaultPostgresURL.
func PostgresURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Backends are the store kinds every store test runs against.
var Backends = []string{"sqlite", "postgres"}

// Open opens a fresh store of the given kind, closed (and for PostgreSQL
// dropped) when t ends. dir, when not empty, is the SQLite data directory.
func Open(t testing.TB, kind string) *sqldb.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch kind {
	case "sqlite":
		s, err := sqlite.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	case "postgres":
		schema := Schema()
		url := PostgresURL()
		s, err := postgres.Open(ctx, url, schema)
		if err != nil {
			t.Fatalf("PostgreSQL at %s (start it with scripts/services): %v", url, err)
		}
		t.Cleanup(func() {
			s.Close()
			if err := postgres.DropSchema(context.Background(), url, schema); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
		return s
	}
	t.Fatalf("unknown store kind %q", kind)
	return nil
}

// Schema returns a fresh schema name for one test.
func Schema() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "runnel_test_" + hex.EncodeToString(b)
}

// OpenPair opens a fresh store of the given kind twice, as two processes
// sharing one database would (a server and the CLI, or two servers).
func OpenPair(t testing.TB, kind string) (a, b *sqldb.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func() (*sqldb.Store, error) { return nil, nil }
	switch kind {
	case "sqlite":
		dir := t.TempDir()
		open = func() (*sqldb.Store, error) { return sqlite.Open(ctx, dir) }
	case "postgres":
		schema, url := Schema(), PostgresURL()
		open = func() (*sqldb.Store, error) { return postgres.Open(ctx, url, schema) }
		t.Cleanup(func() {
			if err := postgres.DropSchema(context.Background(), url, schema); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
	default:
		t.Fatalf("unknown store kind %q", kind)
	}
	var err error
	if a, err = open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}
