package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/runnel/runnel/account"
)

// Credit blocks: a reservation row that holds credits for many calls of
// one process (account/blocks.go). Taking one is reserveTeam's check on
// the locked team row, so blocks and reservations together never hold
// more than the team has; the lease rules of reservations apply to it
// unchanged. Records shrink it by what their call held, in their own
// transaction; the process gives back what it did not hand out.

// TakeBlock holds up to r.Credits of team r.TeamID's free credits as
// block r.ID for r.Owner, but never more than a share-th of the free
// credits, and nothing when fewer than floor are free or the team has a
// budget. It returns the credits held (0: none).
func (s *Store) TakeBlock(ctx context.Context, r account.Reservation, share, floor int64) (int64, error) {
	var got int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		got = 0
		var credits, reserved int64
		var spent, maxBudget, budget float64
		err := s.queryRowTx(ctx, tx, lockReserveTeam, r.TeamID).Scan(&credits, &reserved, &spent, &maxBudget, &budget)
		if errors.Is(err, sql.ErrNoRows) {
			return account.ErrNotFound
		}
		if err != nil {
			return err
		}
		free := credits - reserved
		if maxBudget > 0 || free < floor || share <= 0 {
			return nil
		}
		n := min(r.Credits, free/share)
		if n <= 0 {
			return nil
		}
		if _, err := s.exec(ctx, tx, writeReserveTeam, r.TeamID, n, budget); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, insertBlock, r.ID, r.TeamID, r.Owner, n, micros(time.Now())); err != nil {
			if s.o.IsUnique(err) {
				return account.ErrExists
			}
			return err
		}
		got = n
		return nil
	})
	return got, err
}

// ReturnBlock closes block id (no more calls are admitted from it) and
// gives back n of its credits, those its process did not hand out. What
// is left is held by calls in flight, whose records shrink it. A block
// released already (its owner's lease ran out) gives back nothing.
func (s *Store) ReturnBlock(ctx context.Context, id string, n int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		team, freed, err := s.shrinkBlock(ctx, tx, id, n, 0)
		if err != nil || freed == 0 {
			return err
		}
		_, err = s.exec(ctx, tx, releaseTeam, team, freed, 0.0)
		return err
	})
}

// OpenBlocks reports whether a process other than owner holds an open
// block of team: credits it may not have handed out yet.
func (s *Store) OpenBlocks(ctx context.Context, team, owner string) (bool, error) {
	var n int
	err := s.o.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM reservations WHERE team_id = $1 AND block = 1 AND owner <> $2`, team, owner).Scan(&n)
	return n > 0, err
}

const (
	insertBlock = `INSERT INTO reservations (id, team_id, owner, credits, budget, created_at, block) VALUES ($1, $2, $3, $4, 0, $5, 1)`
	// shrinkBlockQ takes $2 credits off block $1 if it has them; $3 is
	// what its open flag becomes (1 keeps it as it is, 0 closes it).
	shrinkBlockQ = `UPDATE reservations SET credits = credits - $2, block = block * $3 WHERE id = $1 AND credits >= $2 RETURNING team_id, credits`
	lockBlock    = `UPDATE reservations SET block = block * $2 WHERE id = $1 RETURNING team_id, credits`
	setBlock     = `UPDATE reservations SET credits = $2 WHERE id = $1`
	dropBlock    = `DELETE FROM reservations WHERE id = $1 AND credits = 0`
)

// shrinkBlock takes n credits (at most what it holds) off block id inside
// tx and returns its team and the credits taken, for the caller to
// release on the team row; open is 1 to leave the block open, 0 to
// close it. A block left with nothing is deleted: nothing is admitted
// from it any more (its process closes one it handed out whole) and no
// call of it is in flight. A gone block gives nothing.
func (s *Store) shrinkBlock(ctx context.Context, tx *sql.Tx, id string, n int64, open int) (team string, freed int64, err error) {
	var left int64
	err = s.queryRowTx(ctx, tx, shrinkBlockQ, id, n, open).Scan(&team, &left)
	freed = n
	if errors.Is(err, sql.ErrNoRows) {
		// Gone, or holding less than n (not by this code's doing): take
		// what it has.
		err = s.queryRowTx(ctx, tx, lockBlock, id, open).Scan(&team, &left)
		if errors.Is(err, sql.ErrNoRows) {
			return "", 0, nil
		}
		if err != nil {
			return "", 0, err
		}
		freed, left = min(n, left), max(left-n, 0)
		if _, err := s.exec(ctx, tx, setBlock, id, left); err != nil {
			return "", 0, err
		}
	} else if err != nil {
		return "", 0, err
	}
	if left == 0 {
		if _, err := s.exec(ctx, tx, dropBlock, id); err != nil {
			return "", 0, err
		}
	}
	return team, freed, nil
}

// blockStatements are the statements New prepares for blocks.
func blockStatements() []string {
	return []string{insertBlock, shrinkBlockQ, lockBlock, setBlock, dropBlock}
}
