package sqldb

import (
	"context"
	"fmt"
	"strings"

	"github.com/runnel/runnel/account"
)

// What the tests read of a store that the account layer never needs.

// Applied returns the versions recorded in schema_migrations.
func (s *Store) Applied(ctx context.Context) ([]int, error) {
	rows, err := s.o.Read.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// Reservations counts the reservations held.
func (s *Store) Reservations(ctx context.Context) (int, error) {
	var n int
	err := s.o.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM reservations`).Scan(&n)
	return n, err
}

// Grouped counts the reservations written in groups of two or more.
func (s *Store) Grouped() int64 { return s.reserving.grouped.Load() }

// HoldReservations makes the store's reservations wait as if one were
// being written, until the returned function lets the first of them lead.
func (s *Store) HoldReservations() (release func()) {
	g := &s.reserving
	g.mu.Lock()
	g.busy = true
	g.mu.Unlock()
	return g.next
}

// WaitingReservations counts the reservations waiting for a group.
func (s *Store) WaitingReservations() int {
	g := &s.reserving
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// RawTeam reads team id's row as stored: its credits and reserved credits
// before what its blocks owe is taken off (teamRead).
func (s *Store) RawTeam(ctx context.Context, id string) (credits, reserved int64, err error) {
	err = s.o.Read.QueryRowContext(ctx, `SELECT credits, reserved FROM teams WHERE id = $1`, id).Scan(&credits, &reserved)
	return
}

// WhyRefused is whyRefused over the store's reads; ErrChanged its report
// of a team that would take the reservation now.
func (s *Store) WhyRefused(ctx context.Context, r account.Reservation) error {
	return s.whyRefused(ctx, s.o.Read, r)
}

var ErrChanged = errChanged

// LinkQueries are the reads of calls by their block or job, which the
// calls_link index serves.
var LinkQueries = map[string]string{
	"block's charges": blockCharges,
	"team read":       selectTeam,
	"job's calls":     `SELECT ` + callCols + ` FROM calls WHERE ` + jobCalls,
}

// Plan is the database's plan for q with args (PostgreSQL: with
// sequential scans off, as a table of many rows would have them).
func (s *Store) Plan(ctx context.Context, q string, args ...any) (string, error) {
	tx, err := s.o.Read.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	explain := `EXPLAIN QUERY PLAN `
	if s.o.RowLocks {
		explain = `EXPLAIN `
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return "", err
		}
	}
	rows, err := tx.QueryContext(ctx, explain+q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			return "", err
		}
		out = append(out, fmt.Sprint(*vals[len(vals)-1].(*any)))
	}
	return strings.Join(out, "\n"), rows.Err()
}

// CallIndexes names the indexes on calls.
func (s *Store) CallIndexes(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls' ORDER BY name`
	if s.o.RowLocks {
		q = `SELECT indexname FROM pg_indexes WHERE tablename = 'calls' AND schemaname = current_schema() ORDER BY indexname`
	}
	rows, err := s.o.Read.QueryContext(ctx, q)
	return collect(rows, err, func(r scanner) (n string, err error) { err = r.Scan(&n); return })
}
