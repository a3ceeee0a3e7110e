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
