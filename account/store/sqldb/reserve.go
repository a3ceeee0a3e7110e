package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/runnel/runnel/account"
)

// Reserve holds r.Credits of the team's free credits and r.Budget of its
// budget for one call. The conditional update is the whole check: any
// number of concurrent reservations, from any number of processes, never
// hold more than the team has. Concurrent calls of one process share a
// transaction (reserveGroup).
func (s *Store) Reserve(ctx context.Context, r account.Reservation) error {
	return s.reserving.do(ctx, s, r)
}

// reserveOne is Reserve alone: the conditional update, then the row.
func (s *Store) reserveOne(ctx context.Context, r account.Reservation) error {
	for range refusedTries {
		if err := s.reserveOnce(ctx, r); err != errChanged {
			return err
		}
	}
	return account.ErrInsufficientCredits
}

// reserveOnce is one try of reserveOne.
func (s *Store) reserveOnce(ctx context.Context, r account.Reservation) error {
	if s.o.WritableCTE {
		// It is on the way to the first token: one round trip.
		res, err := s.o.Write.ExecContext(ctx, `WITH t AS (`+reserveTeam+` RETURNING id)
			INSERT INTO reservations (id, team_id, owner, credits, budget, created_at) SELECT $4, id, $5, $2, $3, $6 FROM t`,
			r.TeamID, r.Credits, r.Budget, r.ID, r.Owner, micros(time.Now()))
		if err != nil {
			if s.o.IsUnique(err) {
				return account.ErrExists
			}
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.whyRefused(ctx, s.o.Read, r)
		}
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, reserveTeam, r.TeamID, r.Credits, r.Budget)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.whyRefused(ctx, tx, r)
		}
		_, err = s.exec(ctx, tx, insertReservation, r.ID, r.TeamID, r.Owner, r.Credits, r.Budget, micros(time.Now()))
		if err != nil && s.o.IsUnique(err) {
			return account.ErrExists
		}
		return err
	})
}

// The writes of reservations, prepared once by New.
const (
	// reserveTeam holds $2 credits and $3 of budget on team $1 if it has
	// them.
	reserveTeam = `UPDATE teams SET reserved = reserved + $2, budget_reserved = budget_reserved + $3
	WHERE id = $1 AND credits - reserved >= $2
	AND (max_budget <= 0 OR (spent < max_budget AND spent + budget_reserved + $3 <= max_budget))`
	insertReservation = `INSERT INTO reservations (id, team_id, owner, credits, budget, created_at) VALUES ($1, $2, $3, $4, $5, $6)`
	deleteReservation = `DELETE FROM reservations WHERE id = $1 RETURNING team_id, credits, budget, charged, block`
	// releaseTeam gives back $2 credits and $3 of budget. Float sums
	// drift: what is left of the budget held after the last reservation
	// goes must read 0, not 1e-17.
	releaseTeam = `UPDATE teams SET reserved = reserved - $2,
		budget_reserved = CASE WHEN budget_reserved - $3 < 0.000000001 THEN 0 ELSE budget_reserved - $3 END
		WHERE id = $1`
)

// whyRefused says why reserveTeam changed no row: no such team, too few
// credits, or the budget; errChanged when the team, read after the
// update, would take r now (credits came back in between): the caller
// tries again rather than name a cause the team no longer has.
func (s *Store) whyRefused(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, r account.Reservation) error {
	t, err := scanTeam(q.QueryRowContext(ctx, selectTeam, r.TeamID))
	if err != nil {
		return err
	}
	if t.Free() < r.Credits {
		return account.ErrInsufficientCredits
	}
	if budgetRefuses(t.MaxBudget, t.Spent, t.BudgetReserved, r.Budget) {
		return account.ErrBudgetSpent
	}
	return errChanged
}

// budgetRefuses is reserveTeam's budget condition, failed: the team has a
// budget, and has spent it or would pass it with need more held.
func budgetRefuses(maxBudget, spent, held, need float64) bool {
	return maxBudget > 0 && !(spent < maxBudget && spent+held+need <= maxBudget)
}

// errChanged is whyRefused's report of a team that changed since the
// refused update.
var errChanged = errors.New("sqldb: the team changed since the reservation was refused")

// refusedTries bounds how often reserveOne tries again after errChanged;
// then the refusal is named by credits, which callers may wait on.
const refusedTries = 3

// Release drops a reservation without charging anything; releasing one
// that is gone (released, or its record stored) changes nothing.
func (s *Store) Release(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.release(ctx, tx, id) })
}

// release gives reservation id back to its team inside tx (a block's
// calls recorded inside it pay what they owe). Deleting the
// row is what makes it happen once: of concurrent releases (the call's
// record, a sweep after its owner's lease ran out), one gets the row.
func (s *Store) release(ctx context.Context, tx *sql.Tx, id string) error {
	var team string
	var credits, charged int64
	var budget float64
	var state int
	err := s.queryRowTx(ctx, tx, deleteReservation, id).Scan(&team, &credits, &budget, &charged, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if state != blockNone {
		// A block: its calls recorded inside it and not folded yet are
		// charged now (the delete waited for their records' locks).
		var sum int64
		if err := s.queryRowTx(ctx, tx, blockCharges, id).Scan(&sum); err != nil {
			return err
		}
		if owed := sum - charged; owed != 0 {
			if _, err := s.exec(ctx, tx, deductCredit, team, owed); err != nil {
				return err
			}
		}
	}
	_, err = s.exec(ctx, tx, releaseTeam, team, credits, budget)
	return err
}

// RenewLease says that owner runs, and holds its reservations, until
// until.
func (s *Store) RenewLease(ctx context.Context, owner string, until time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE leases SET expires_at = $2 WHERE owner = $1`, owner, micros(until))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (owner, expires_at) VALUES ($1, $2)`, owner, micros(until))
		if err != nil && s.o.IsUnique(err) {
			// Inserted concurrently by the same owner: ours is as good.
			_, err = tx.ExecContext(ctx, `UPDATE leases SET expires_at = $2 WHERE owner = $1`, owner, micros(until))
		}
		return err
	})
}

// DropLease ends owner's lease at once, releasing what it still holds
// (a clean shutdown, after its calls were recorded) but what keep keeps:
// those stay, ownerless, until a record releases them (ReleaseExpired
// finds them again).
func (s *Store) DropLease(ctx context.Context, owner string, keep func(owner, reservation string) bool) error {
	if _, err := s.releaseOwned(ctx, owner, keep); err != nil {
		return err
	}
	_, err := s.o.Write.ExecContext(ctx, `DELETE FROM leases WHERE owner = $1`, owner)
	return err
}

// ReleaseExpired releases, without charge, every reservation whose owner
// has no lease running at now (it died, or stopped renewing) and that
// keep (when not nil) does not keep, and forgets those owners' leases. It
// returns how many reservations it released. A kept one stays until its
// call's record releases it.
func (s *Store) ReleaseExpired(ctx context.Context, now time.Time, keep func(owner, reservation string) bool) (int, error) {
	rows, err := s.o.Read.QueryContext(ctx, `SELECT DISTINCT r.owner FROM reservations r LEFT JOIN leases l ON l.owner = r.owner
		WHERE l.owner IS NULL OR l.expires_at < $1`, micros(now))
	owners, err := collect(rows, err, func(r scanner) (o string, err error) { err = r.Scan(&o); return })
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range owners {
		m, err := s.releaseOwned(ctx, o, keep)
		n += m
		if err != nil {
			return n, err
		}
	}
	_, err = s.o.Write.ExecContext(ctx, `DELETE FROM leases WHERE expires_at < $1`, micros(now))
	return n, err
}

func (s *Store) owned(ctx context.Context, owner string) ([]string, error) {
	rows, err := s.o.Read.QueryContext(ctx, `SELECT id FROM reservations WHERE owner = $1`, owner)
	return collect(rows, err, func(r scanner) (id string, err error) { err = r.Scan(&id); return })
}

// releaseOwned releases owner's reservations but those keep keeps, and
// returns how many it released.
func (s *Store) releaseOwned(ctx context.Context, owner string, keep func(owner, reservation string) bool) (int, error) {
	ids, err := s.owned(ctx, owner)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if keep != nil && keep(owner, id) {
			continue
		}
		if err := s.Release(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
