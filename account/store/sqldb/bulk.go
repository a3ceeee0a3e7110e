package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/runnel/runnel/account"
)

// Bulk recording: a batch of plain calls (no job, no settlement) of one
// team is stored with a few statements, not five per call: one DELETE of
// their reservations, one multi-row INSERT, and one read and one write of
// the team row. What the team row ends up holding is computed in Go,
// call by call in the order the per-call path (recordCall) would apply
// them, so credits, reservations and the float sums of spend and held
// budget come out bit for bit the same.

// maxChunk bounds the rows of one bulk statement (26 parameters a call).
const maxChunk = 32

// chunkSizes are the row counts of the bulk statements New prepares: a
// batch is cut into them, largest first, so at most log2(maxChunk)+1
// statements of each kind run for any batch size.
var chunkSizes = func() []int {
	var s []int
	for n := maxChunk; n >= 1; n /= 2 {
		s = append(s, n)
	}
	return s
}()

// chunks cuts n rows into chunkSizes.
func chunks(n int) []int {
	var out []int
	for _, c := range chunkSizes {
		for n >= c {
			out = append(out, c)
			n -= c
		}
	}
	return out
}

func placeholders(b *strings.Builder, first, n int) {
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "$%d", first+i)
	}
	b.WriteByte(')')
}

// insertCalls is the INSERT of n calls; RETURNING names the ids stored
// (not those stored before).
func insertCalls(n int) string { return insertCallsFrom(n, 1) }

// insertCallsFrom is insertCalls with its parameters numbered from first.
func insertCallsFrom(n, first int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO calls (` + callCols + `, block_id) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		placeholders(&b, first+26*i, 26)
	}
	b.WriteString(` ON CONFLICT (id) DO NOTHING RETURNING id`)
	return b.String()
}

// insertCallsLocking is insertCalls that reads block $1 of team $2 (and
// with lock, locks it: FOR UPDATE) in the same statement and returns its
// state beside each id stored (NULL: no such block of that team). One
// integer a row: the team is compared in the database, not returned as
// text to be compared here.
func insertCallsLocking(n int, lock string) string {
	return `WITH b AS (SELECT block FROM reservations WHERE id = $1 AND team_id = $2` + lock + `) ` +
		insertCallsFrom(n, 3) + `, (SELECT block FROM b)`
}

// deleteReservations drops n reservations, returning what each held.
func deleteReservations(n int) string {
	var b strings.Builder
	b.WriteString(`DELETE FROM reservations WHERE id IN `)
	placeholders(&b, 1, n)
	b.WriteString(` RETURNING id, team_id, credits, budget`)
	return b.String()
}

// sized holds a bulk statement's text for each of chunkSizes, built once:
// the text is the key of its prepared statement.
type sized map[int]string

func sizedQuery(f func(int) string) sized {
	m := sized{}
	for _, n := range chunkSizes {
		m[n] = f(n)
	}
	return m
}

var (
	insertCallsQ = sizedQuery(insertCalls)
	// insertCallsLockingQ[false] reads the block (SQLite: its single
	// writer serializes), [true] locks it too.
	insertCallsLockingQ = map[bool]sized{
		false: sizedQuery(func(n int) string { return insertCallsLocking(n, "") }),
		true:  sizedQuery(func(n int) string { return insertCallsLocking(n, " FOR UPDATE") }),
	}
	deleteReservationsQ = sizedQuery(deleteReservations)
)

// bulkStatements are the statements New prepares for recordPlain.
func (s *Store) bulkStatements() []string {
	var qs []string
	for _, n := range chunkSizes {
		qs = append(qs, insertCallsQ[n], deleteReservationsQ[n], insertCallsLockingQ[s.o.RowLocks][n])
	}
	return append(qs, readTeam, writeTeam, setCallCredits, unsetCallBlock)
}

const (
	// readTeam locks the team row (the no-op update; PostgreSQL) and
	// reads what recordPlain computes from.
	readTeam = `UPDATE teams SET reserved = reserved WHERE id = $1 RETURNING credits, reserved, spent, budget_reserved`
	// writeTeam applies the batch: integer deltas, and the float sums as
	// computed in order from what readTeam read under the same lock.
	writeTeam      = `UPDATE teams SET credits = credits - $2, reserved = reserved - $3, spent = $4, budget_reserved = $5 WHERE id = $1`
	setCallCredits = `UPDATE calls SET credits = $2 WHERE id = $1`
	unsetCallBlock = `UPDATE calls SET block_id = NULL WHERE id = $1`
)

// query runs a write that returns rows in tx, through its prepared
// statement if there is one.
func (s *Store) queryTx(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st, ok := s.wstmts.Load(q); ok {
		st := st.(*stmt)
		return tx.StmtContext(ctx, st.Stmt).QueryContext(ctx, st.args(args)...)
	}
	return tx.QueryContext(ctx, q, args...)
}

type held struct {
	team    string
	credits int64
	budget  float64
}

// recordPlain stores the plain calls cs[idx] of team inside tx, as
// recordCall would one after another: each releases its reservation, is
// inserted unless its id is stored (dup), and deducts at most what the
// team can pay (cs[i].Credits is set to what was deducted).
func (s *Store) recordPlain(ctx context.Context, tx *sql.Tx, team string, cs []*account.Call, idx []int, dup []bool) error {
	if len(idx) == 0 {
		return nil
	}
	want := make([]int64, len(idx))
	var res []any
	for k, i := range idx {
		want[k] = cs[i].Credits
		cs[i].Credits = 0
		if cs[i].Reservation != "" {
			res = append(res, cs[i].Reservation)
		}
	}
	// Reservations: a gone one (released by a lease sweep, or stored
	// before) holds nothing.
	released := map[string]held{}
	for off, n := range chunkOffsets(len(res)) {
		rows, err := s.queryTx(ctx, tx, deleteReservationsQ[n], res[off:off+n]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var h held
			if err := rows.Scan(&id, &h.team, &h.credits, &h.budget); err != nil {
				rows.Close()
				return err
			}
			released[id] = h
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	// Blocks, in id order as every batch locks them. A call charged
	// exactly what it held, of its team's block still in the store, is
	// recorded inside it (blocks.go); every other call of a block shrinks
	// it by what it held, shared out below in call order.
	blocks := map[string]*blockUse{}
	for _, i := range idx {
		if c := cs[i]; c.Block != "" && c.Held > 0 && blocks[c.Block] == nil {
			blocks[c.Block] = &blockUse{}
		}
	}
	// The blocks' ids in order, taken once (a batch usually has one).
	ids := make([]string, 0, 1)
	for id := range blocks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	inside := make([]bool, len(idx))
	// The usual group, one block's calls in one statement: the block's
	// read (and on PostgreSQL its lock) goes with the insert, one round
	// trip for both, and the calls are taken to be inside it until it
	// says otherwise.
	one := ""
	if len(blocks) == 1 && len(idx) <= maxChunk && team != "" {
		one = ids[0]
		for k, i := range idx {
			c := cs[i]
			inside[k] = c.Block == one && c.Held > 0 && want[k] == c.Held
		}
	}
	for _, id := range ids {
		if id == one {
			continue
		}
		u := blocks[id]
		err := s.lockBlock(ctx, tx, team, id, u)
		if err != nil {
			return err
		}
		for k, i := range idx {
			if c := cs[i]; c.Block == id && c.Held > 0 {
				inside[k] = u.open && want[k] == c.Held
			}
		}
		if err := s.shrinkOutside(ctx, tx, team, id, u, cs, idx, inside); err != nil {
			return err
		}
	}
	// Insert with the credits asked; the rare call the team cannot pay
	// in full is corrected below.
	// args[0] and args[1] are the block a locking insert reads and the
	// team; the calls follow. The ids every call of the batch shares are
	// put in an interface once, not once a call (each is an allocation).
	args := make([]any, 2, 2+26*min(len(idx), maxChunk))
	var teamArg, oneArg, keyArg any = team, one, ""
	lastKey := ""
	stored := map[string]bool{}
	var bs sql.NullInt64 // with one: its state, as a row said (NULL: not the team's)
	said := false
	for off, n := range chunkOffsets(len(idx)) {
		args = args[:2]
		for k := off; k < off+n; k++ {
			c := cs[idx[k]]
			var block any
			if inside[k] {
				block = oneArg // converted once
				if c.Block != one {
					block = c.Block
				}
			}
			if c.KeyID != lastKey {
				keyArg, lastKey = c.KeyID, c.KeyID
			}
			args = append(args, c.ID, teamArg, keyArg, c.JobID, c.Provider, c.Model, c.Request, c.Output, c.Thinking, c.ToolCalls,
				c.Usage.InputTokens, c.Usage.OutputTokens, c.Usage.ReasoningTokens, b2i(c.Usage.Estimated),
				c.Cost.Input, c.Cost.Output, c.Cost.Total,
				micros(c.Started), c.TTFT.Microseconds(), c.Duration.Microseconds(), c.Finish, c.Status, c.ErrorCode, c.ErrorMsg, want[k], block)
		}
		q, dest, params := insertCallsQ[n], []any{nil}, args[2:]
		if one != "" {
			q, dest, params = insertCallsLockingQ[s.o.RowLocks][n], []any{nil, &bs}, args
			args[0], args[1] = oneArg, teamArg
		}
		rows, err := s.queryTx(ctx, tx, q, params...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			dest[0] = &id
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			stored[id] = true
			said = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	if one != "" {
		u := blocks[one]
		if !said {
			// Nothing stored, so no row said: lock and read it.
			if err := s.lockBlock(ctx, tx, team, one, u); err != nil {
				return err
			}
		} else {
			u.open = bs.Valid && bs.Int64 != blockNone
			u.closed = bs.Valid && bs.Int64 == blockClosed
		}
		for k, i := range idx {
			if c := cs[i]; inside[k] && !u.open {
				// Gone, or not a block of this team: the call is
				// charged on the team row.
				inside[k] = false
				if stored[c.ID] {
					if _, err := s.exec(ctx, tx, unsetCallBlock, c.ID); err != nil {
						return err
					}
				}
			}
		}
		if err := s.shrinkOutside(ctx, tx, team, one, u, cs, idx, inside); err != nil {
			return err
		}
	}
	// A reservation of another team (not made by this code) is released
	// as the per-call path would.
	for id, h := range released {
		if h.team != team {
			if _, err := s.exec(ctx, tx, releaseTeam, h.team, h.credits, h.budget); err != nil {
				return err
			}
			delete(released, id)
		}
	}
	// Which calls were stored before (the same id twice in a batch: the
	// second). One recorded inside its block gives back what it held, as
	// any other call of a block does.
	again := make([]bool, len(idx))
	seen := make(map[string]bool, len(idx))
	for k, i := range idx {
		c := cs[i]
		again[k] = !stored[c.ID] || seen[c.ID]
		seen[c.ID] = true
		if inside[k] && again[k] {
			blocks[c.Block].dupHeld += c.Held
		}
	}
	for _, id := range ids {
		if u := blocks[id]; u.dupHeld > 0 {
			_, freed, err := s.shrinkBlock(ctx, tx, id, u.dupHeld, 1)
			if err != nil {
				return err
			}
			u.freed += freed
		}
	}
	var credits, reserved int64
	var spent, budget float64
	// The team row is read and written only if a call is charged on it,
	// gives back credits or adds to its spend.
	touch := len(released) > 0
	for _, u := range blocks {
		touch = touch || u.freed > 0
	}
	for k, i := range idx {
		touch = touch || !inside[k] && want[k] > 0 || cs[i].Cost.Total != 0
	}
	if team != "" && touch {
		err := s.queryRowTx(ctx, tx, readTeam, team).Scan(&credits, &reserved, &spent, &budget)
		if errors.Is(err, sql.ErrNoRows) {
			// No such team: nothing to release or deduct; asking
			// to deduct is the error it was per call.
			for _, w := range want {
				if w > 0 {
					return err
				}
			}
			team = ""
		} else if err != nil {
			return err
		}
	}
	var deducted, freed int64
	spent0, budget0 := spent, budget
	for k, i := range idx {
		c := cs[i]
		if h, ok := released[c.Reservation]; ok && c.Reservation != "" {
			delete(released, c.Reservation) // a reservation named twice is released once
			reserved -= h.credits
			freed += h.credits
			if budget-h.budget < 0.000000001 {
				budget = 0
			} else {
				budget -= h.budget
			}
		}
		if u := blocks[c.Block]; u != nil && c.Block != "" && (!inside[k] || again[k]) {
			r := min(c.Held, u.freed)
			u.freed -= r
			reserved -= r
			freed += r
		}
		if again[k] {
			dup[i] = true
			continue
		}
		if inside[k] {
			// Charged inside its block: owed until the block is
			// folded, where it leaves credits and reserved alike.
			c.Credits = want[k]
			blocks[c.Block].fold = blocks[c.Block].fold || !c.FoldLater
		} else if want[k] > 0 && team != "" {
			c.Credits = min(want[k], max(credits-reserved, 0))
			credits -= c.Credits
			deducted += c.Credits
		}
		if team != "" && c.Cost.Total != 0 {
			spent += c.Cost.Total
		}
		if c.Credits != want[k] {
			if _, err := s.exec(ctx, tx, setCallCredits, c.ID, c.Credits); err != nil {
				return err
			}
		}
	}
	if team != "" && (deducted != 0 || freed != 0 || spent != spent0 || budget != budget0) {
		if _, err := s.exec(ctx, tx, writeTeam, team, deducted, freed, spent, budget); err != nil {
			return err
		}
	}
	// A block that closed before its calls ended is folded by each of
	// their records, but for those whose process folds it once the last
	// of them is recorded (FoldLater).
	for _, id := range ids {
		if u := blocks[id]; u.fold && u.closed {
			if err := s.fold(ctx, tx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// lockBlock locks block id's row inside tx and says in u whether calls
// of team can be recorded inside it.
func (s *Store) lockBlock(ctx context.Context, tx *sql.Tx, team, id string, u *blockUse) error {
	var t string
	var state int
	var left, charged int64
	err := s.queryRowTx(ctx, tx, s.lockBlockQ, id).Scan(&t, &state, &left, &charged)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	u.open = err == nil && team != "" && t == team && state != blockNone
	u.closed = state == blockClosed
	return nil
}

// shrinkOutside shrinks block id by what its calls not recorded inside
// it held, into u.freed (for team's row to release, call by call).
func (s *Store) shrinkOutside(ctx context.Context, tx *sql.Tx, team, id string, u *blockUse, cs []*account.Call, idx []int, inside []bool) error {
	var outside int64
	for k, i := range idx {
		if c := cs[i]; c.Block == id && c.Held > 0 && !inside[k] {
			outside += c.Held
		}
	}
	if outside == 0 {
		return nil
	}
	t, freed, err := s.shrinkBlock(ctx, tx, id, outside, 1)
	if err != nil {
		return err
	}
	if t != team && freed > 0 {
		// Another team's block (not made by this code): released as
		// the per-call path would.
		if _, err := s.exec(ctx, tx, releaseTeam, t, freed, 0.0); err != nil {
			return err
		}
		freed = 0
	}
	u.freed = freed
	return nil
}

// blockUse is what recordPlain does with one credit block.
type blockUse struct {
	open, closed bool  // in the store, of the batch's team; closed
	freed        int64 // credits its calls not recorded inside it gave back
	dupHeld      int64 // of which held by calls recorded inside it, stored before
	fold         bool  // a call was recorded inside it, not FoldLater
}

// chunkOffsets yields (offset, size) over n rows cut by chunks.
func chunkOffsets(n int) func(yield func(int, int) bool) {
	return func(yield func(int, int) bool) {
		off := 0
		for _, c := range chunks(n) {
			if !yield(off, c) {
				return
			}
			off += c
		}
	}
}
