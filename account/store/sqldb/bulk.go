package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
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

// maxChunk bounds the rows of one bulk statement (25 parameters a call).
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
func insertCalls(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO calls (` + callCols + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		placeholders(&b, 1+25*i, 25)
	}
	b.WriteString(` ON CONFLICT (id) DO NOTHING RETURNING id`)
	return b.String()
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
	insertCallsQ        = sizedQuery(insertCalls)
	deleteReservationsQ = sizedQuery(deleteReservations)
)

// bulkStatements are the statements New prepares for recordPlain.
func bulkStatements() []string {
	var qs []string
	for _, n := range chunkSizes {
		qs = append(qs, insertCallsQ[n], deleteReservationsQ[n])
	}
	return append(qs, readTeam, writeTeam, setCallCredits)
}

const (
	// readTeam locks the team row (the no-op update; PostgreSQL) and
	// reads what recordPlain computes from.
	readTeam = `UPDATE teams SET reserved = reserved WHERE id = $1 RETURNING credits, reserved, spent, budget_reserved`
	// writeTeam applies the batch: integer deltas, and the float sums as
	// computed in order from what readTeam read under the same lock.
	writeTeam      = `UPDATE teams SET credits = credits - $2, reserved = reserved - $3, spent = $4, budget_reserved = $5 WHERE id = $1`
	setCallCredits = `UPDATE calls SET credits = $2 WHERE id = $1`
)

// query runs a write that returns rows in tx, through its prepared
// statement if there is one.
func (s *Store) queryTx(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st, ok := s.wstmts.Load(q); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)).QueryContext(ctx, args...)
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
	// Blocks: each shrinks once by what its calls held, shared out below
	// in call order.
	blockLeft := map[string]held{}
	for _, i := range idx {
		if c := cs[i]; c.Block != "" && c.Held > 0 {
			h := blockLeft[c.Block]
			h.credits += c.Held
			blockLeft[c.Block] = h
		}
	}
	// In id order, as every batch locks them.
	for _, id := range slices.Sorted(maps.Keys(blockLeft)) {
		h := blockLeft[id]
		t, freed, err := s.shrinkBlock(ctx, tx, id, h.credits, 1)
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
		blockLeft[id] = held{team: t, credits: freed}
	}
	// Insert with the credits asked; the rare call the team cannot pay
	// in full is corrected below.
	args := make([]any, 0, 25*min(len(idx), maxChunk))
	stored := map[string]bool{}
	for off, n := range chunkOffsets(len(idx)) {
		args = args[:0]
		for k := off; k < off+n; k++ {
			c := cs[idx[k]]
			args = append(args, c.ID, c.TeamID, c.KeyID, c.JobID, c.Provider, c.Model, c.Request, c.Output, c.Thinking, c.ToolCalls,
				c.Usage.InputTokens, c.Usage.OutputTokens, c.Usage.ReasoningTokens, b2i(c.Usage.Estimated),
				c.Cost.Input, c.Cost.Output, c.Cost.Total,
				micros(c.Started), c.TTFT.Microseconds(), c.Duration.Microseconds(), c.Finish, c.Status, c.ErrorCode, c.ErrorMsg, want[k])
		}
		rows, err := s.queryTx(ctx, tx, insertCallsQ[n], args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			stored[id] = true
		}
		if err := rows.Close(); err != nil {
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
	var credits, reserved int64
	var spent, budget float64
	if team != "" {
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
		if h, ok := blockLeft[c.Block]; ok && c.Block != "" {
			r := min(c.Held, h.credits)
			h.credits -= r
			blockLeft[c.Block] = h
			reserved -= r
			freed += r
		}
		if !stored[c.ID] {
			dup[i] = true
			continue
		}
		delete(stored, c.ID) // the same id twice in a batch: the second is a dup
		if want[k] > 0 && team != "" {
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
	if team == "" || deducted == 0 && freed == 0 && spent == spent0 && budget == budget0 {
		return nil
	}
	_, err := s.exec(ctx, tx, writeTeam, team, deducted, freed, spent, budget)
	return err
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
