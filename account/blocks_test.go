package account_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/stream"
)

// blockServices starts n services with credit blocks on one database,
// alternating between two stores (two processes each; every service is
// a process of its own, with its own lease), and a team with credits
// and a key.
func blockServices(t *testing.T, kind string, n int, credits int64, cfg account.Config) ([]*account.Service, string, string) {
	a, b := storetest.OpenPair(t, kind)
	listening(t, a, b)
	cfg.Auth, cfg.CreditBlocks = true, true
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var svcs []*account.Service
	for i := range n {
		s := account.New(kept{[]*sqldb.Store{a, b}[i%2]}, cfg)
		t.Cleanup(func() { s.Close() })
		svcs = append(svcs, s)
	}
	ctx := context.Background()
	tm, err := svcs[0].CreateTeam(ctx, "blocks", credits)
	if err != nil {
		t.Fatal(err)
	}
	var key string
	heard(t, func() { key, _, err = svcs[0].CreateKey(ctx, tm.ID, "", account.Limits{}) }, a, b)
	if err != nil {
		t.Fatal(err)
	}
	return svcs, tm.ID, key
}

// listening waits until the stores follow changes to keys and teams
// (PostgreSQL's listener connects after Open): until then nothing is
// admitted from a block.
func listening(t *testing.T, sts ...*sqldb.Store) {
	t.Helper()
	for _, st := range sts {
		waitUntil(t, "the store to follow changes", func() bool { _, ok := st.Version(); return ok })
	}
}

// waitUntil polls cond until it holds. Its guard only ends a test that
// would hang (a deadlock): generous, and each wait's own, since a loaded
// machine slows every store write it waits for.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(guard) {
			t.Fatalf("waited 2 minutes for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heard runs change, which announces a change to keys or teams, and waits
// until every store has heard it: a block taken before a store hears a
// change closes when it does.
func heard(t *testing.T, change func(), sts ...*sqldb.Store) {
	t.Helper()
	before := make([]uint64, len(sts))
	for i, st := range sts {
		before[i], _ = st.Version()
	}
	change()
	for i, st := range sts {
		waitUntil(t, "a store to hear the change", func() bool { v, _ := st.Version(); return v != before[i] })
	}
}

func okRecord(id string) *gateway.Record {
	return &gateway.Record{ID: id, Provider: "mock", Model: "m", Usage: stream.Usage{PromptTokens: 2, CompletionTokens: 3}, Status: "ok", Started: time.Now()}
}

// Three processes under mixed concurrent traffic (calls that succeed,
// fail, or are still running when others start) admit exactly the
// team's credits, most of them from credit blocks: every call served is
// paid once, none beyond the credits, and every process keeps calling
// until it is refused, so a credit left at the end was refused to some
// call while it was free or parked in a block.
func TestBlocksAdmitExactly(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			const credits = 600
			svcs, team, key := blockServices(t, kind, 3, credits, account.Config{})
			ctx := context.Background()
			var served, failed, fromBlocks atomic.Int64
			var n atomic.Int64
			var wg sync.WaitGroup
			for w := range 18 {
				s := svcs[w%3]
				wg.Go(func() {
					for {
						adm, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
						if codeOf(err) == stream.CodeInsufficientCredit {
							return
						}
						if err != nil {
							t.Error(err)
							return
						}
						if account.BlockOf(adm) != "" {
							fromBlocks.Add(1)
						}
						i := n.Add(1)
						if i%3 == 0 {
							time.Sleep(time.Millisecond) // still running while others start
						}
						rec := okRecord(fmt.Sprintf("call_%06d", i))
						if i%7 == 0 {
							rec.Status = "error"
							failed.Add(1)
						} else {
							served.Add(1)
						}
						adm.Done(rec)
					}
				})
			}
			wg.Wait()
			tm, _ := svcs[0].Team(ctx, team)
			rows, _ := svcs[0].Usage(ctx, account.UsageFilter{TeamID: team})
			var calls, errs int64
			for _, r := range rows {
				calls, errs = calls+r.Calls, errs+r.Errors
			}
			if served.Load() != credits || tm.Credits != 0 || tm.Reserved != 0 || calls != served.Load()+failed.Load() || errs != failed.Load() {
				t.Fatalf("served %d (%d failed), team after %+v, %d records (%d errors); want %d served and paid, nothing left or held", served.Load(), failed.Load(), tm, calls, errs, credits)
			}
			if fromBlocks.Load() < credits/2 {
				t.Fatalf("only %d of %d calls admitted from blocks: the test did not test them", fromBlocks.Load(), n.Load())
			}
			t.Logf("%d of %d calls admitted from blocks", fromBlocks.Load(), n.Load())
		})
	}
}

// The last credits are usable from any process: parked in another
// process's block, they come back within a bounded wait (the block
// closes at its age) and a refused call waits for them; below the floor
// every process reserves per call, so each gets one of the last three.
func TestLastCreditsFromAnyProcess(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			svcs, team, key := blockServices(t, kind, 3, 300, account.Config{})
			ctx := context.Background()
			admit := func(s *account.Service) (gateway.Admission, error) {
				return s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
			}
			// Process 0 takes a block for one call, which runs on.
			running, err := admit(svcs[0])
			if err != nil || account.BlockOf(running) == "" {
				t.Fatalf("first call: %v, block %q", err, account.BlockOf(running))
			}
			// Process 1 alone calls until refused: it gets every other
			// credit, process 0's block's unused ones included.
			got := untilRefused(t, func() (gateway.Admission, error) { return admit(svcs[1]) })
			running.Done(okRecord("call_p0"))
			if tm, _ := svcs[0].Team(ctx, team); got != 299 || tm.Credits != 0 || tm.Reserved != 0 {
				t.Fatalf("process 1 served %d, team %+v; want 299 and nothing left", got, tm)
			}
			// Three credits, under the floor: one for each process.
			if _, err := svcs[2].AddCredits(ctx, team, 3); err != nil {
				t.Fatal(err)
			}
			for i, s := range svcs {
				adm, err := admit(s)
				if err != nil || account.BlockOf(adm) != "" {
					t.Fatalf("process %d: %v, block %q; want a per-call reservation", i, err, account.BlockOf(adm))
				}
				defer adm.Done(okRecord(fmt.Sprintf("call_last%d", i)))
			}
			if _, err := admit(svcs[0]); codeOf(err) != stream.CodeInsufficientCredit {
				t.Fatalf("a fourth call: %v; want refused", err)
			}
		})
	}
}

// untilRefused makes calls with admit, each recorded at once, until one
// is refused for credits, and returns how many were served.
func untilRefused(t *testing.T, admit func() (gateway.Admission, error)) int {
	t.Helper()
	got := 0
	for {
		adm, err := admit()
		if codeOf(err) == stream.CodeInsufficientCredit {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got++
		adm.Done(okRecord(fmt.Sprintf("call_%03d", got)))
	}
}

// lookFirst runs before once ahead of the first look for other
// processes' open blocks.
type lookFirst struct {
	kept
	once   sync.Once
	before func()
}

func (l *lookFirst) OpenBlocks(ctx context.Context, team, owner string) (bool, error) {
	l.once.Do(l.before)
	return l.kept.OpenBlocks(ctx, team, owner)
}

// A block's give-back that lands after a call was refused, but before
// the refused process looks for open blocks and finds none, is not lost:
// the call tries once more and is served from the credits given back.
func TestRefusalRetriesAfterTheLastBlockCloses(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			a, b := storetest.OpenPair(t, kind)
			listening(t, a, b)
			cfg := account.Config{Auth: true, CreditBlocks: true, Logger: slog.New(slog.DiscardHandler)}
			p0 := account.New(kept{a}, cfg)
			t.Cleanup(func() { p0.Close() })
			p1 := account.New(&lookFirst{kept: kept{b}, before: p0.CloseBlocks}, cfg)
			t.Cleanup(func() { p1.Close() })
			ctx := context.Background()
			// 64 credits: the floor for blocks, so process 0's first call
			// takes a block of 4 and process 1 then reserves per call.
			tm, err := p0.CreateTeam(ctx, "race", 64)
			if err != nil {
				t.Fatal(err)
			}
			var key string
			heard(t, func() { key, _, err = p0.CreateKey(ctx, tm.ID, "", account.Limits{}) }, a, b)
			if err != nil {
				t.Fatal(err)
			}
			admit := func(s *account.Service) (gateway.Admission, error) {
				return s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
			}
			running, err := admit(p0)
			if err != nil || account.BlockOf(running) == "" {
				t.Fatalf("first call: %v, block %q", err, account.BlockOf(running))
			}
			defer running.Done(okRecord("call_p0"))
			// Process 1's first refusal comes at 60 calls; its look for
			// open blocks closes process 0's block first, giving back 3.
			got := untilRefused(t, func() (gateway.Admission, error) { return admit(p1) })
			if got != 63 {
				t.Fatalf("process 1 served %d calls; want 63, the 3 given back included", got)
			}
		})
	}
}

// survivor opens two stores of kind (two processes) and returns the first,
// for the process that will die, and a service with blocks on the second,
// with a team of 100 credits and its key.
func survivor(t *testing.T, kind string, cfg account.Config) (*sqldb.Store, *account.Service, account.Team, string) {
	t.Helper()
	sa, sb := storetest.OpenPair(t, kind)
	listening(t, sa, sb)
	cfg.Auth, cfg.CreditBlocks = true, true
	good := account.New(kept{sb}, cfg)
	t.Cleanup(func() { good.Close() })
	tm, _ := good.CreateTeam(context.Background(), "acme", 100)
	var key string
	heard(t, func() { key, _, _ = good.CreateKey(context.Background(), tm.ID, "", account.Limits{}) }, sa, sb)
	return sa, good, tm, key
}

// dead is a process that has lost the store for good: its records go to
// Redis, and its block is never given back.
type dead struct{ refusing }

func (dead) ReturnBlock(context.Context, string, int64) error {
	return errors.New("database unavailable")
}

func (dead) CloseBlock(context.Context, account.BlockClose) error {
	return errors.New("database unavailable")
}

func (dead) RollBlock(context.Context, account.BlockClose, account.Reservation, int64, int64) (int64, error) {
	return 0, errors.New("database unavailable")
}

// A process that dies holding a block, with records of calls from it
// waiting in Redis and a call still running: the block stays held while
// the records wait, each record charges once when another process stores
// it and shrinks the block, and once none waits the rest of the block
// (the running call's credit, and what was unused) goes back uncharged.
func TestDeadProcessBlock(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			url, prefix := redistest.Prefix(t)
			j := sharedJournal(t, url, prefix)
			quiet := slog.New(slog.DiscardHandler)
			// The test drains the shared journal itself, step by step.
			sa, good, tm, key := survivor(t, kind, account.Config{Shared: j, Logger: quiet, DrainEvery: time.Hour})

			past := func() time.Time { return time.Now().Add(-time.Hour) } // its lease is over for the others
			a := account.New(dead{refusing{kept{sa}}}, account.Config{Auth: true, CreditBlocks: true, Journal: filepath.Join(t.TempDir(), "calls.journal"),
				Shared: sharedJournal(t, url, prefix), Logger: quiet, Now: past, DrainEvery: time.Hour})
			defer a.Close()
			block := ""
			for i := range 4 {
				adm, err := a.Admit(keyCtx(t, a, key), &stream.Request{Model: "m"})
				if err != nil || account.BlockOf(adm) == "" || block != "" && account.BlockOf(adm) != block {
					t.Fatalf("call %d: %v, block %q (first %q)", i, err, account.BlockOf(adm), block)
				}
				block = account.BlockOf(adm)
				if i < 3 {
					adm.Done(okRecord(fmt.Sprintf("call_dead%d", i)))
				}
			}
			held := func() account.Team { got, _ := good.Team(ctx, tm.ID); return got }
			size := held().Reserved
			if size < 4 {
				t.Fatalf("block of %d credits for 4 calls", size)
			}
			// It dies: its heartbeat goes.
			if err := j.Heartbeat(ctx, a.Owner(), 0); err != nil {
				t.Fatal(err)
			}
			good.RenewLease(ctx)
			if got := held(); got.Reserved != size || got.Credits != 100 {
				t.Fatalf("after its lease ended, with 3 records waiting: %+v; want the block of %d kept", got, size)
			}
			var recs []account.PendingRecord
			j.Drain(ctx, func(_ context.Context, r []account.PendingRecord) ([]string, error) { recs = r; return nil, nil })
			if n, err := good.DrainShared(ctx); n != 3 || err != nil {
				t.Fatalf("drain: %d, %v", n, err)
			}
			if got := held(); got.Credits != 97 || got.Reserved != size-3 {
				t.Fatalf("after the records: %+v; want 97 credits, %d held", got, size-3)
			}
			good.RenewLease(ctx)
			if got := held(); got.Credits != 97 || got.Reserved != 0 {
				t.Fatalf("after the next lease round: %+v; want 97 credits, the block released", got)
			}
			// The same records again (a drainer that died before
			// forgetting them): stored and charged once.
			for _, r := range recs {
				if err := j.Put(ctx, r.Key, r.Record); err != nil && !errors.Is(err, account.ErrHoldGone) {
					t.Fatal(err)
				}
			}
			if n, err := good.DrainShared(ctx); n != 3 || err != nil {
				t.Fatalf("second drain: %d, %v", n, err)
			}
			rows, _ := good.Usage(ctx, account.UsageFilter{TeamID: tm.ID})
			if got := held(); got.Credits != 97 || got.Reserved != 0 || len(rows) != 1 || rows[0].Calls != 3 {
				t.Fatalf("after the records again: %+v, usage %+v; want 3 calls, 97 credits", got, rows)
			}
		})
	}
}

// slowReturn gives a block's unused credits back late, as a loaded
// database would.
type slowReturn struct{ kept }

func (s slowReturn) ReturnBlock(ctx context.Context, id string, n int64) error {
	time.Sleep(1500 * time.Millisecond)
	return s.kept.ReturnBlock(ctx, id, n)
}

func (s slowReturn) CloseBlock(ctx context.Context, c account.BlockClose) error {
	time.Sleep(1500 * time.Millisecond)
	return s.kept.CloseBlock(ctx, c)
}

func (s slowReturn) RollBlock(ctx context.Context, c account.BlockClose, r account.Reservation, share, floor int64) (int64, error) {
	time.Sleep(1500 * time.Millisecond)
	return s.kept.RollBlock(ctx, c, r, share, floor)
}

// A process whose own block has closed but whose unused credits are still
// on their way back does not refuse a call for want of them: it waits.
func TestOwnBlockGivingBack(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := storetest.OpenPair(t, kind)
			listening(t, sa, sb)
			quiet := slog.New(slog.DiscardHandler)
			s := account.New(slowReturn{kept{sa}}, account.Config{Auth: true, CreditBlocks: true, Logger: quiet})
			defer s.Close()
			other := account.New(kept{sb}, account.Config{Auth: true, Logger: quiet}) // per call
			defer other.Close()
			tm, _ := s.CreateTeam(ctx, "acme", 64)
			var key string
			heard(t, func() { key, _, _ = s.CreateKey(ctx, tm.ID, "", account.Limits{}) }, sa, sb)
			adm, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
			if err != nil || account.BlockOf(adm) == "" {
				t.Fatalf("first call: %v, block %q", err, account.BlockOf(adm))
			}
			adm.Done(okRecord("call_first"))
			// The other process spends all that is free (64 - a block of 4).
			for i := range 60 {
				a, err := other.Admit(keyCtx(t, other, key), &stream.Request{Model: "m"})
				if err != nil {
					t.Fatalf("other process, call %d: %v", i, err)
				}
				a.Done(okRecord(fmt.Sprintf("call_other%d", i)))
			}
			// The block is past its age: this call closes it and waits
			// for its 3 unused credits.
			time.Sleep(1100 * time.Millisecond)
			adm, err = s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
			if err != nil {
				t.Fatalf("a call while its own block gives back 3 credits: %v", err)
			}
			adm.Done(okRecord("call_last"))
			if got, _ := s.Team(ctx, tm.ID); got.Credits != 2 {
				t.Fatalf("team %+v, want 62 calls paid", got)
			}
		})
	}
}

// unreturning stores records but cannot give a block back: a process that
// dies before its block closes.
type unreturning struct{ kept }

func (unreturning) ReturnBlock(context.Context, string, int64) error {
	return errors.New("database unavailable")
}

func (unreturning) CloseBlock(context.Context, account.BlockClose) error {
	return errors.New("database unavailable")
}

func (unreturning) RollBlock(context.Context, account.BlockClose, account.Reservation, int64, int64) (int64, error) {
	return 0, errors.New("database unavailable")
}

// A process that dies mid-block after three of its calls were recorded
// inside the block: every reader sees them charged at once; its lease
// gives back exactly the block less those charges; a record of it that
// still comes (a stalled process) is charged on the team row.
func TestDeadProcessChargedInsideBlock(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			quiet := slog.New(slog.DiscardHandler)
			sa, good, tm, key := survivor(t, kind, account.Config{Logger: quiet})

			past := func() time.Time { return time.Now().Add(-time.Hour) } // its lease is over for the others
			a := account.New(unreturning{kept{sa}}, account.Config{Auth: true, CreditBlocks: true, Logger: quiet, Now: past})
			defer a.Close()
			var running gateway.Admission
			for i := range 4 {
				adm, err := a.Admit(keyCtx(t, a, key), &stream.Request{Model: "m"})
				if err != nil || account.BlockOf(adm) == "" {
					t.Fatalf("call %d: %v, block %q", i, err, account.BlockOf(adm))
				}
				if i < 3 {
					adm.Done(okRecord(fmt.Sprintf("call_in%d", i)))
				} else {
					running = adm
				}
			}
			team := func() account.Team { got, _ := good.Team(ctx, tm.ID); return got }
			got := team()
			size := got.Reserved + 3
			if got.Credits != 97 || size < 4 {
				t.Fatalf("3 calls recorded inside the block: %+v; want 97 credits", got)
			}
			good.RenewLease(ctx)
			if got := team(); got.Credits != 97 || got.Reserved != 0 {
				t.Fatalf("after the dead process's lease: %+v; want 97 credits, nothing held (block of %d)", got, size)
			}
			running.Done(okRecord("call_in3"))
			rows, _ := good.Usage(ctx, account.UsageFilter{TeamID: tm.ID})
			if got := team(); got.Credits != 96 || got.Reserved != 0 || len(rows) != 1 || rows[0].Calls != 4 {
				t.Fatalf("after the last record: %+v, usage %+v; want 96 credits, 4 calls", got, rows)
			}
		})
	}
}

// returns keeps a store's block closes in the order it was asked for
// them (closes), and counts the blocks taken, the folds put off to a
// later close, and the records that leave the fold of their closed block
// to their process.
type returns struct {
	kept
	takes, rolls atomic.Int64 // blocks taken on their own, and with a close
	put          atomic.Int64 // folds put off to a later close
	later        atomic.Int64
	mu           sync.Mutex
	closes       []closeAsked
}

type closeAsked struct {
	account.BlockClose
	roll bool // with the next block's take (RollBlock)
}

func (r *returns) TakeBlock(ctx context.Context, nx account.Reservation, share, floor int64) (int64, error) {
	r.takes.Add(1)
	return r.kept.TakeBlock(ctx, nx, share, floor)
}

func (r *returns) count(c account.BlockClose, roll bool) {
	r.mu.Lock()
	r.closes = append(r.closes, closeAsked{c, roll})
	r.mu.Unlock()
	r.put.Add(int64(len(c.Folds)))
}

// closesOf returns the closes asked for so far that close block id
// (closed), fold it (folds: its own fold, and once for each time it is
// among the Folds), and come after its first close (after).
func (r *returns) closesOf(id string) (closed, folds, after []closeAsked) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.closes {
		if len(closed) > 0 {
			after = append(after, c)
		}
		if c.ID == id {
			closed = append(closed, c)
		}
		if c.ID == id && c.Fold {
			folds = append(folds, c)
		}
		for _, f := range c.Folds {
			if f == id {
				folds = append(folds, c)
			}
		}
	}
	return closed, folds, after
}

func (r *returns) RecordCalls(ctx context.Context, cs []*account.Call) ([]bool, error) {
	for _, c := range cs {
		if c.FoldLater {
			r.later.Add(1)
		}
	}
	return r.kept.RecordCalls(ctx, cs)
}

func (r *returns) CloseBlock(ctx context.Context, c account.BlockClose) error {
	r.count(c, false)
	return r.kept.CloseBlock(ctx, c)
}

func (r *returns) RollBlock(ctx context.Context, c account.BlockClose, nx account.Reservation, share, floor int64) (int64, error) {
	r.count(c, true)
	r.rolls.Add(1)
	return r.kept.RollBlock(ctx, c, nx, share, floor)
}

// countedBlocks is a service with credit blocks over a store of kind
// that counts its block writes, with a team of credits and its key.
func countedBlocks(t *testing.T, kind string, credits int64) (*returns, *account.Service, account.Team, string) {
	t.Helper()
	sa := storetest.Open(t, kind)
	listening(t, sa)
	st := &returns{kept: kept{sa}}
	s := account.New(st, account.Config{Auth: true, CreditBlocks: true, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { s.Close() })
	tm, _ := s.CreateTeam(context.Background(), "acme", credits)
	var key string
	heard(t, func() { key, _, _ = s.CreateKey(context.Background(), tm.ID, "", account.Limits{}) }, sa)
	return st, s, tm, key
}

// Calls still running when their block closes are recorded inside it
// without each record folding it: the process folds the block once, when
// the last of them is recorded, and the team pays exactly its calls.
func TestClosedBlockFoldedOnce(t *testing.T) {
	// Blocks close at a look, as they did at their age when this was written.
	account.SetBlockMaxAge(t, account.BlockLook)
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st, s, tm, adms := threeCallsOfABlock(t, kind)
			first := account.BlockOf(adms[0])
			// The block closes at its age, its unused credit given back.
			waitUntil(t, "the block to close", func() bool { c, _, _ := st.closesOf(first); return len(c) != 0 })
			for i, a := range adms {
				a.Done(okRecord(fmt.Sprintf("call_%d", i)))
				if _, f, _ := st.closesOf(first); i < len(adms)-1 && len(f) != 0 {
					t.Fatalf("the block folded after %d of its 3 running calls", i+1)
				}
			}
			// Folded with the next block's close or its next look (a
			// blockLook away), or at once if no block is open (the roll
			// still being written, or the next block closed at its age
			// before the last record): without another call.
			waitUntil(t, "the block's fold after its last call", func() bool { _, f, _ := st.closesOf(first); return len(f) != 0 })
			s.Close() // every give-back and fold done
			// Its close, with its 3 calls running, gave back its unused
			// credit without folding and took the next block (it handed
			// out credits); the fold after the last call is its only one.
			closed, folds, after := st.closesOf(first)
			if len(closed) != 1 || !closed[0].roll || closed[0].Fold || closed[0].Credits != 1 {
				t.Fatalf("the block's closes %+v; want one, with the next block's take, giving back 1 credit, not folding", closed)
			}
			if l := st.later.Load(); len(folds) != 1 || l != 3 {
				t.Fatalf("the block folded by %+v, want once; %d of its 3 records left the fold to it", folds, l)
			}
			// After it, the next block's close alone, with the fold or
			// after a close of the fold on its own.
			var next, alone []closeAsked
			for _, c := range after {
				if c.ID == "" {
					alone = append(alone, c)
				} else {
					next = append(next, c)
				}
			}
			if len(next) != 1 || next[0].roll || len(alone) > 1 || slices.Contains(next[0].Folds, first) == (len(alone) == 1) {
				t.Fatalf("closes after the block's: %+v; want the next block's, with the fold or after the fold's own", after)
			}
			if got, err := s.Team(ctx, tm.ID); err != nil || got.Credits != 997 || got.Reserved != 0 {
				t.Fatalf("team %+v (%v), want 997 credits, none reserved", got, err)
			}
		})
	}
}

// threeCallsOfABlock admits three calls of a team with 1,000 credits
// from one credit block of a counted store of kind. A block serves calls
// for blockLook at least from its take: when its take and the calls' admissions
// take longer (a loaded machine), they come from two blocks, and a fresh
// service tries again; from two blocks sooner is a failure.
func threeCallsOfABlock(t *testing.T, kind string) (*returns, *account.Service, account.Team, []gateway.Admission) {
	t.Helper()
	for try := 1; ; try++ {
		st, s, tm, key := countedBlocks(t, kind, 1000)
		start := time.Now()
		var adms []gateway.Admission
		for i := range 3 {
			a, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
			if err != nil || account.BlockOf(a) == "" {
				t.Fatalf("call %d: %v, block %q", i, err, account.BlockOf(a))
			}
			adms = append(adms, a)
		}
		b0, b2 := account.BlockOf(adms[0]), account.BlockOf(adms[2])
		if b0 == b2 {
			return st, s, tm, adms
		}
		if took := time.Since(start); took < account.BlockLook || try == 3 {
			t.Fatalf("calls from blocks %s and %s admitted within %v, want one", b0, b2, took)
		}
		t.Logf("calls from blocks %s and %s: their admissions took over a block's age; again", b0, b2)
		for i, a := range adms {
			a.Done(okRecord(fmt.Sprintf("call_%d", i)))
		}
	}
}

// A team's steady traffic over several blocks: each block that handed out
// credits is followed by the next in the transaction that closes it
// (RollBlock), the fold of each closed block after its last call goes
// with the next close, and the team pays exactly its calls.
func TestBlocksRollUnderTraffic(t *testing.T) {
	// Blocks close at a look, as they did at their age when this was written.
	account.SetBlockMaxAge(t, account.BlockLook)
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st, s, tm, key := countedBlocks(t, kind, 100000)
			// Calls for about 3.5 blocks' ages, each running until its
			// block has closed and the next is open, so that every close
			// finds calls running and their folds go with the next close.
			// (Calls of 150 ms did that only while the store wrote the
			// next block within 150 ms: with every take and roll 300 ms
			// long, as on a loaded machine, no fold was put off.)
			var wg sync.WaitGroup
			calls := 0
			for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); calls++ {
				a, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
				if err != nil || account.BlockOf(a) == "" {
					t.Fatalf("call %d: %v, block %q", calls, err, account.BlockOf(a))
				}
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					guard := time.Now().Add(2 * time.Minute) // a deadlock guard
					for b := s.OpenBlock(tm.ID); b == "" || b == account.BlockOf(a); b = s.OpenBlock(tm.ID) {
						if time.Now().After(guard) {
							t.Errorf("call %d: waited 2 minutes for the block after its own", i)
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
					a.Done(okRecord(fmt.Sprintf("call_%d", i)))
				}(calls)
				time.Sleep(20 * time.Millisecond)
			}
			wg.Wait()
			s.Close() // every give-back and fold done
			// Taken alone: the first block (4 calls' credits), the one
			// after it, which its use closed at once, and any after a
			// burst that used one up (a loaded machine). The others
			// follow their block's close at its age, in its
			// transaction.
			if takes, rolls, put := st.takes.Load(), st.rolls.Load(), st.put.Load(); rolls < 1 || put < 1 {
				t.Fatalf("%d blocks taken alone, %d with a close, %d folds put off to the next close; want some with a close and some put off", takes, rolls, put)
			}
			if got, err := s.Team(ctx, tm.ID); err != nil || got.Credits != 100000-int64(calls) || got.Reserved != 0 {
				t.Fatalf("team %+v (%v), want %d credits, none reserved", got, err, 100000-calls)
			}
		})
	}
}

// Block ids sort in the order they were taken, so that the calls' index
// by block grows at its end; ids taken at the same time differ.
func TestBlockIDsInOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	prev := ""
	for i, d := range []time.Duration{0, time.Nanosecond, time.Microsecond, time.Second, time.Hour, 30 * 24 * time.Hour} {
		id := account.NewBlockID(t0.Add(d))
		if len(id) != len("blk_")+16+8 || !strings.HasPrefix(id, "blk_") {
			t.Fatalf("id %q: want blk_, 16 hex digits, 8 random characters", id)
		}
		if i > 0 && id <= prev {
			t.Fatalf("id %q taken after %q sorts before it", id, prev)
		}
		prev = id
	}
	if a, b := account.NewBlockID(t0), account.NewBlockID(t0); a == b {
		t.Fatalf("two ids taken at once are both %q", a)
	}
}
