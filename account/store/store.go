// Package store opens the account store the way every Runnel command does:
// PostgreSQL when a database URL is given (DATABASE_URL), otherwise SQLite
// in the data directory.
package store

import (
	"context"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/postgres"
	"github.com/runnel/runnel/account/store/sqlite"
)

// DefaultDataDir is where `runnel serve` and the admin commands keep the
// SQLite file unless --data-dir says otherwise.
const DefaultDataDir = "./data"

// Open returns the PostgreSQL store at databaseURL, or the SQLite store in
// dataDir when databaseURL is empty.
func Open(ctx context.Context, dataDir, databaseURL string) (account.Store, error) {
	if databaseURL != "" {
		return postgres.Open(ctx, databaseURL, "")
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	return sqlite.Open(ctx, dataDir)
}
