// Package postgres opens the account store in PostgreSQL through pgx.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/runnel/runnel/account/store/sqldb"
)

// Open connects to the database at url (postgres://…) and migrates it.
// A non-empty schema is created if missing and used as the search path,
// which is how tests isolate their runs.
func Open(ctx context.Context, url, schema string) (*sqldb.Store, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	if schema != "" {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("postgres: connect: %w", err)
		}
		_, err = c.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
		c.Close(ctx)
		if err != nil && pgCode(err) != "23505" { // created concurrently
			return nil, fmt.Errorf("postgres: create schema: %w", err)
		}
		cfg.RuntimeParams["search_path"] = schema
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	l := listen(cfg, db, channelOf(schema))
	s, err := sqldb.New(ctx, sqldb.Options{
		Changes:     l,
		Write:       db,
		Read:        db,
		Migrator:    migrator{},
		WritableCTE: true,
		RowLocks:    true,
		IsUnique:    func(err error) bool { return pgCode(err) == "23505" },
		// serialization_failure, deadlock_detected
		Retry: func(err error) bool { c := pgCode(err); return c == "40001" || c == "40P01" },
	})
	if err != nil {
		l.Close()
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// parseConfig is url's connection settings, with small statement caches.
func parseConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message can contain the password; keep it out.
		return nil, errors.New("postgres: DATABASE_URL is not a valid connection string")
	}
	smallCaches(cfg)
	return cfg, nil
}

// stmtCache is the size of each connection's caches of statements the
// store runs unprepared: its hot writes are prepared (sqldb.New), the
// rest are a few dozen texts.
const stmtCache = 64

// smallCaches shrinks pgx's per-connection statement caches from their
// default of 512 (unless the connection string sized them): each is a
// map made at its full size, about 25 kB, two a connection, so a pool of
// 16 held up to 0.8 MB of them. A gateway's live heap is a few MB, and
// the collector's work grows with it: with auth on, the hop's live heap
// went from 2.8 to 2.2 MB and its collector's instructions per request
// fell by a fifth (docs/benchmarks.md, authcpu session).
func smallCaches(cfg *pgx.ConnConfig) {
	const pgxDefault = 512
	if cfg.StatementCacheCapacity == pgxDefault {
		cfg.StatementCacheCapacity = stmtCache
	}
	if cfg.DescriptionCacheCapacity == pgxDefault {
		cfg.DescriptionCacheCapacity = stmtCache
	}
}

// DropSchema removes schema and everything in it (tests).
func DropSchema(ctx context.Context, url, schema string) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
