package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/account"
)

// Group commit of reservations: while a reservation of this process is
// being written, those that arrive meanwhile wait, then the first of them
// writes them all in one transaction (per team one locked read and one
// write, and one multi-row insert). A reservation that finds none in
// flight is written at once, so an idle server waits for nothing. The
// decisions are the conditional update's, made in Go in arrival order on
// the locked row, so they and the held budget's float sum are what the
// same reservations one by one would give.

// groupTimeout bounds a group's transaction, which no one caller's
// context may cut short.
const groupTimeout = 30 * time.Second

type reserveReq struct {
	r    account.Reservation
	err  error
	wake chan bool // true: lead the next group; false: done, err set
}

type reserveGroup struct {
	mu      sync.Mutex
	busy    bool // a reservation or a group is being written
	pending []*reserveReq
	grouped atomic.Int64 // reservations written in groups of two or more
}

func (g *reserveGroup) do(ctx context.Context, s *Store, r account.Reservation) error {
	g.mu.Lock()
	if !g.busy {
		g.busy = true
		g.mu.Unlock()
		err := s.reserveOne(ctx, r)
		g.next()
		return err
	}
	req := &reserveReq{r: r, wake: make(chan bool, 1)}
	g.pending = append(g.pending, req)
	g.mu.Unlock()
	if !<-req.wake {
		return req.err
	}
	g.mu.Lock()
	batch := g.pending
	g.pending = nil
	g.mu.Unlock()
	if len(batch) == 1 {
		req.err = s.reserveOne(ctx, r)
	} else {
		// The group is the others' too: the leader's client leaving must
		// not refuse them. Its own reservation, written anyway, goes as
		// any admitted call's does when its client has left.
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
		g.grouped.Add(int64(len(batch)))
		s.reserveMany(gctx, batch)
		cancel()
	}
	for _, q := range batch {
		if q != req {
			q.wake <- false
		}
	}
	g.next()
	return req.err
}

// next hands the lead to the oldest waiting reservation, if any.
func (g *reserveGroup) next() {
	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].wake <- true
	} else {
		g.busy = false
	}
	g.mu.Unlock()
}

// reserveMany writes batch in one transaction. If it fails, each is
// written alone, so that one bad reservation (a duplicate id) does not
// refuse the others.
func (s *Store) reserveMany(ctx context.Context, batch []*reserveReq) {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.reserveTx(ctx, tx, batch) }); err != nil {
		for _, q := range batch {
			q.err = s.reserveOne(ctx, q.r)
		}
	}
}

func (s *Store) reserveTx(ctx context.Context, tx *sql.Tx, batch []*reserveReq) error {
	// Team rows in id order, as every batch locks them.
	order := slices.Clone(batch)
	slices.SortStableFunc(order, func(a, b *reserveReq) int { return strings.Compare(a.r.TeamID, b.r.TeamID) })
	var held []*reserveReq
	for k := 0; k < len(order); {
		team := order[k].r.TeamID
		end := k
		for end < len(order) && order[end].r.TeamID == team {
			end++
		}
		group := order[k:end]
		k = end
		var credits, reserved int64
		var spent, maxBudget, budget float64
		err := s.queryRowTx(ctx, tx, lockReserveTeam, team).Scan(&credits, &reserved, &spent, &maxBudget, &budget)
		if errors.Is(err, sql.ErrNoRows) {
			for _, q := range group {
				q.err = account.ErrNotFound
			}
			continue
		}
		if err != nil {
			return err
		}
		reserved0, budget0 := reserved, budget
		for _, q := range group {
			// reserveTeam's condition, on the row as the reservations
			// before this one left it.
			switch r := q.r; {
			case credits-reserved < r.Credits:
				q.err = account.ErrInsufficientCredits
			case budgetRefuses(maxBudget, spent, budget, r.Budget):
				q.err = account.ErrBudgetSpent
			default:
				q.err = nil
				reserved += r.Credits
				budget += r.Budget
				held = append(held, q)
			}
		}
		if reserved != reserved0 || budget != budget0 {
			if _, err := s.exec(ctx, tx, writeReserveTeam, team, reserved-reserved0, budget); err != nil {
				return err
			}
		}
	}
	now := micros(time.Now())
	args := make([]any, 0, 6*min(len(held), maxChunk))
	for off, n := range chunkOffsets(len(held)) {
		args = args[:0]
		for _, q := range held[off : off+n] {
			args = append(args, q.r.ID, q.r.TeamID, q.r.Owner, q.r.Credits, q.r.Budget, now)
		}
		if _, err := s.exec(ctx, tx, insertReservationsQ[n], args...); err != nil {
			return err
		}
	}
	return nil
}

const (
	// lockReserveTeam locks the team row (PostgreSQL) and reads what
	// reserveTeam's condition needs.
	lockReserveTeam  = `UPDATE teams SET reserved = reserved WHERE id = $1 RETURNING credits, reserved, spent, max_budget, budget_reserved`
	writeReserveTeam = `UPDATE teams SET reserved = reserved + $2, budget_reserved = $3 WHERE id = $1`
)

var insertReservationsQ = sizedQuery(insertReservations)

func insertReservations(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO reservations (id, team_id, owner, credits, budget, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		placeholders(&b, 1+6*i, 6)
	}
	return b.String()
}

// reserveStatements are the statements New prepares for reserveTx.
func reserveStatements() []string {
	qs := []string{lockReserveTeam, writeReserveTeam}
	for _, n := range chunkSizes {
		qs = append(qs, insertReservationsQ[n])
	}
	return qs
}
