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
// unchanged. The process gives back what it did not hand out.
//
// A call charged exactly what it held (the usual plain call) is recorded
// inside its block: its row names the block (calls.block_id) and neither
// the team row nor the block row is written, which is most of what a
// record cost. Its charge is owed by the block until the block is
// folded (fold): when it closes, by each such record that ends after
// that (unless its process folds the block once its last call is
// recorded: Call.FoldLater), and when it is released (release: a lease
// that ran out, a shutdown). Folding takes what the block's calls were charged since the
// last fold off the team's credits and, as the credits they held, off
// its reserved credits and the block; so the team's free credits never
// change by it, and readers of a team subtract what is owed and not
// folded yet (teamRead). A record inside a block locks the block's row
// (with its insert: one statement) before it commits, and a fold sums
// the block's calls only once it holds that lock, so no charge is
// folded twice or missed; a record that finds its block closed folds it
// itself, one that finds it gone is charged on the team row. Other
// calls of a block (charged less or more than they held, stored before)
// shrink it by what they held and are charged on the team row, as is a
// call whose block is gone.

// TakeBlock holds up to r.Credits of team r.TeamID's free credits as
// block r.ID for r.Owner, but never more than a share-th of the free
// credits, and nothing when fewer than floor are free or the team has a
// budget. It returns the credits held (0: none).
func (s *Store) TakeBlock(ctx context.Context, r account.Reservation, share, floor int64) (int64, error) {
	var got int64
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		got, err = s.takeBlock(ctx, tx, r, share, floor)
		return err
	})
	return got, err
}

// takeBlock is TakeBlock inside tx.
func (s *Store) takeBlock(ctx context.Context, tx *sql.Tx, r account.Reservation, share, floor int64) (int64, error) {
	var credits, reserved int64
	var spent, maxBudget, budget float64
	err := s.queryRowTx(ctx, tx, lockReserveTeam, r.TeamID).Scan(&credits, &reserved, &spent, &maxBudget, &budget)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, account.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	free := credits - reserved
	if maxBudget > 0 || free < floor || share <= 0 {
		return 0, nil
	}
	n := min(r.Credits, free/share)
	if n <= 0 {
		return 0, nil
	}
	if _, err := s.exec(ctx, tx, writeReserveTeam, r.TeamID, n, budget); err != nil {
		return 0, err
	}
	if _, err := s.exec(ctx, tx, insertBlock, r.ID, r.TeamID, r.Owner, n, micros(time.Now())); err != nil {
		if s.o.IsUnique(err) {
			return 0, account.ErrExists
		}
		return 0, err
	}
	return n, nil
}

// ReturnBlock closes block id (no more calls are admitted from it) and
// gives back n of its credits, those its process did not hand out. What
// is left is held by calls in flight, whose records shrink it. A block
// released already (its owner's lease ran out) gives back nothing.
func (s *Store) ReturnBlock(ctx context.Context, id string, n int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.giveBack(ctx, tx, id, n); err != nil {
			return err
		}
		return s.fold(ctx, tx, id)
	})
}

// CloseBlock closes block c.ID, gives back c.Credits of it, folds it if
// c.Fold and folds the blocks c.Folds, in one transaction.
func (s *Store) CloseBlock(ctx context.Context, c account.BlockClose) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.closeBlock(ctx, tx, c) })
}

// RollBlock is CloseBlock and TakeBlock(r, share, floor) in one
// transaction: a process's next block of the team as its last closes.
func (s *Store) RollBlock(ctx context.Context, c account.BlockClose, r account.Reservation, share, floor int64) (int64, error) {
	var got int64
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		if err := s.closeBlock(ctx, tx, c); err != nil {
			return err
		}
		got, err = s.takeBlock(ctx, tx, r, share, floor)
		return err
	})
	return got, err
}

// closeBlock is CloseBlock inside tx. The closed block's row is locked
// first, then the team's, then the blocks folded: as a group of records
// locks its block before the team.
func (s *Store) closeBlock(ctx context.Context, tx *sql.Tx, c account.BlockClose) error {
	if c.ID == "" {
		// Folds alone.
	} else if c.Held {
		if err := s.giveHeldBack(ctx, tx, c.ID, c.Credits); err != nil {
			return err
		}
	} else if err := s.giveBack(ctx, tx, c.ID, c.Credits); err != nil {
		return err
	}
	if c.Fold && c.ID != "" {
		if err := s.fold(ctx, tx, c.ID); err != nil {
			return err
		}
	}
	for _, id := range c.Folds {
		// Folded only, not closed: its own close may be on its way still
		// (a give-back retried), and a close here would make that give
		// nothing back.
		if err := s.fold(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// giveBack closes block id and releases n of its credits on its team, if
// it is open: a block closed already gives nothing (the same give-back
// tried again).
func (s *Store) giveBack(ctx context.Context, tx *sql.Tx, id string, n int64) error {
	team, freed, err := s.shrinkBlock(ctx, tx, id, n, 0)
	if err == nil && freed > 0 {
		_, err = s.exec(ctx, tx, releaseTeam, team, freed, 0.0)
	}
	return err
}

// giveHeldBack releases on its team what block id lacks of total, the
// credits its process gave back in all for calls it admitted from the
// block and then refused (held_back), leaving the block's state as it
// is. A give-back stored already gives nothing again, and one tried
// after a later one was stored is covered by it. A gone block (released
// with its lease, or left with nothing) gives nothing.
func (s *Store) giveHeldBack(ctx context.Context, tx *sql.Tx, id string, total int64) error {
	var team string
	var left, back int64
	err := s.queryRowTx(ctx, tx, s.lockHeldQ, id).Scan(&team, &left, &back)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case total <= back:
		return nil
	}
	freed := min(total-back, left)
	if _, err := s.exec(ctx, tx, setHeldBack, id, left-freed, total); err != nil {
		return err
	}
	if left == freed {
		if _, err := s.exec(ctx, tx, dropBlock, id); err != nil {
			return err
		}
	}
	if freed > 0 {
		_, err = s.exec(ctx, tx, releaseTeam, team, freed, 0.0)
	}
	return err
}

// fold charges team the credits that block id's calls recorded inside it
// were charged since its last fold, takes as much off its reserved
// credits and off the block, and deletes a closed block left with
// nothing (no call of it is in flight). A gone block folds nothing.
func (s *Store) fold(ctx context.Context, tx *sql.Tx, id string) error {
	var team string
	var left, charged int64
	var state int
	err := s.queryRowTx(ctx, tx, s.lockBlockQ, id).Scan(&team, &state, &left, &charged)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	// After the lock: every record inside the block has committed.
	var sum int64
	if err := s.queryRowTx(ctx, tx, blockCharges, id).Scan(&sum); err != nil {
		return err
	}
	owed := sum - charged
	if owed != 0 {
		if _, err := s.exec(ctx, tx, foldTeam, team, owed); err != nil {
			return err
		}
	}
	if left -= owed; left == 0 && state == blockClosed {
		_, err = s.exec(ctx, tx, dropFolded, id)
	} else if owed != 0 {
		_, err = s.exec(ctx, tx, foldBlockQ, id, owed)
	}
	return err
}

// OpenBlocks reports whether a process other than owner holds an open
// block of team: credits it may not have handed out yet.
func (s *Store) OpenBlocks(ctx context.Context, team, owner string) (bool, error) {
	var n int
	err := s.o.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM reservations WHERE team_id = $1 AND block = 1 AND owner <> $2`, team, owner).Scan(&n)
	return n > 0, err
}

// Want marks team as wanted: a call or a job was refused for credits
// that another process's open block may hold. A missing team is no error
// (its refusal says so).
func (s *Store) Want(ctx context.Context, team string) error {
	_, err := s.o.Write.ExecContext(ctx, `UPDATE teams SET wanted = wanted + 1 WHERE id = $1`, team)
	return err
}

// Wanted reads team's mark (Want): a point read, no transaction. A
// missing team reads as never marked.
func (s *Store) Wanted(ctx context.Context, team string) (int64, error) {
	var n int64
	err := s.queryRow(ctx, selectWanted, team).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

const selectWanted = `SELECT wanted FROM teams WHERE id = $1`

// reservations.block: a per-call reservation, an open block, a closed one.
const (
	blockNone = iota
	blockOpen
	blockClosed
)

const (
	insertBlock = `INSERT INTO reservations (id, team_id, owner, credits, budget, created_at, block) VALUES ($1, $2, $3, $4, 0, $5, 1)`
	// shrinkBlockQ takes $2 credits off block $1 if it has them; $3 is 1
	// to leave it as it is, 0 to close it (block 2): then only an open
	// block is shrunk, so that a close done already gives nothing back
	// again (a retried give-back).
	shrinkBlockQ = `UPDATE reservations SET credits = credits - $2, block = CASE WHEN $3 = 0 AND block = 1 THEN 2 ELSE block END WHERE id = $1 AND credits >= $2 AND ($3 = 1 OR block = 1) RETURNING team_id, credits`
	lockBlock    = `UPDATE reservations SET block = CASE WHEN $2 = 0 AND block = 1 THEN 2 ELSE block END WHERE id = $1 AND ($2 = 1 OR block = 1) RETURNING team_id, credits`
	setBlock     = `UPDATE reservations SET credits = $2 WHERE id = $1`
	dropBlock    = `DELETE FROM reservations WHERE id = $1 AND credits = 0`
	// lockBlockRow reads a block's row (Store.lockBlockQ: and locks it).
	lockBlockRow = `SELECT team_id, block, credits, charged FROM reservations WHERE id = $1`
	// lockHeldRow reads a block's row for a refused call's give-back
	// (Store.lockHeldQ: and locks it).
	lockHeldRow = `SELECT team_id, credits, held_back FROM reservations WHERE id = $1`
	setHeldBack = `UPDATE reservations SET credits = $2, held_back = $3 WHERE id = $1`
	// blockCharges is what the calls recorded inside block $1 were
	// charged, from the calls_link index (callLink).
	blockCharges = `SELECT CAST(COALESCE(SUM(credits), 0) AS BIGINT) FROM calls WHERE ` + callLink + ` = $1`
	foldTeam     = `UPDATE teams SET credits = credits - $2, reserved = reserved - $2 WHERE id = $1`
	foldBlockQ   = `UPDATE reservations SET credits = credits - $2, charged = charged + $2 WHERE id = $1`
	dropFolded   = `DELETE FROM reservations WHERE id = $1`
)

// shrinkBlock takes n credits (at most what it holds) off block id inside
// tx and returns its team and the credits taken, for the caller to
// release on the team row; open is 1 to leave the block's state as it
// is, 0 to close it. A block left with nothing is deleted: nothing is
// admitted from it any more (its process closes one it handed out whole)
// and no call of it is in flight. A gone block gives nothing, and so
// does closing one closed already: its process's give-back is stored
// once however often it is tried.
func (s *Store) shrinkBlock(ctx context.Context, tx *sql.Tx, id string, n int64, open int) (team string, freed int64, err error) {
	var left int64
	err = s.queryRowTx(ctx, tx, shrinkBlockQ, id, n, open).Scan(&team, &left)
	freed = n
	if errors.Is(err, sql.ErrNoRows) {
		// Gone, closed already (closing), or holding less than n (a
		// block whose take failed is given back whole): take what it has.
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
func (s *Store) blockStatements() []string {
	return []string{insertBlock, shrinkBlockQ, lockBlock, setBlock, dropBlock, s.lockBlockQ, s.lockHeldQ, setHeldBack, blockCharges, foldTeam, foldBlockQ, dropFolded}
}
