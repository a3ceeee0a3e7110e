package sqldb

import (
	"context"

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
