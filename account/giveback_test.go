package account_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

var errInjected = errors.New("injected: the store did not answer in time")

// failingBlocks fails the block writes whose numbers (in the order the
// test's process makes them: takes, rolls and closes) are in fail: before
// anything is stored or, with stored, after it is (a timeout on the way
// back from a commit).
type failingBlocks struct {
	kept
	stored bool
	fail   map[int]bool
	mu     sync.Mutex
	n      int
}

func (f *failingBlocks) next() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.fail[f.n]
}

func (f *failingBlocks) writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// failWrite runs write, failing if failing: before it or, with stored,
// after it committed.
func failWrite(failing, stored bool, write func() error) error {
	if failing && !stored {
		return errInjected
	}
	err := write()
	if failing && err == nil {
		return errInjected
	}
	return err
}

func (f *failingBlocks) TakeBlock(ctx context.Context, r account.Reservation, share, floor int64) (got int64, err error) {
	err = failWrite(f.next(), f.stored, func() (err error) { got, err = f.kept.TakeBlock(ctx, r, share, floor); return err })
	return got, err
}

func (f *failingBlocks) RollBlock(ctx context.Context, c account.BlockClose, r account.Reservation, share, floor int64) (got int64, err error) {
	err = failWrite(f.next(), f.stored, func() (err error) { got, err = f.kept.RollBlock(ctx, c, r, share, floor); return err })
	return got, err
}

func (f *failingBlocks) CloseBlock(ctx context.Context, c account.BlockClose) error {
	return failWrite(f.next(), f.stored, func() error { return f.kept.CloseBlock(ctx, c) })
}

// A block's give-back that fails, before or after the store commits it,
// is tried again until it is stored, once: the team's credits come back
// exactly while the process lives (they stayed reserved until it
// stopped), none twice (a give-back stored and tried again took credits
// that calls in flight held). So does a take whose error came after its
// block was stored: that block is given back whole.
func TestGiveBackRetried(t *testing.T) {
	// Blocks close at a look, as they did at their age when this was written.
	account.SetBlockMaxAge(t, account.BlockLook)
	eachFailure(t, func(t *testing.T, sa *sqldb.Store, stored bool) {
		ctx := context.Background()
		// Write 1 takes the first block; its roll at its age (2) and
		// the closes after it (3 to 5: the roll's new block, the
		// last block, its first try again) fail.
		st := &failingBlocks{kept: kept{sa}, stored: stored, fail: map[int]bool{2: true, 3: true, 4: true, 5: true}}
		s := account.New(st, account.Config{Auth: true, CreditBlocks: true, Logger: slog.New(slog.DiscardHandler)})
		defer s.Close()
		tm, _ := s.CreateTeam(ctx, "acme", 100)
		var key string
		heard(t, func() { key, _, _ = s.CreateKey(ctx, tm.ID, "", account.Limits{}) }, sa)
		kctx := keyCtx(t, s, key)
		a1, err := s.Admit(kctx, &stream.Request{Model: "m"})
		if err != nil || account.BlockOf(a1) == "" {
			t.Fatalf("first call: %v, block %q", err, account.BlockOf(a1))
		}
		a2, _ := s.Admit(kctx, &stream.Request{Model: "m"})
		a3, _ := s.Admit(kctx, &stream.Request{Model: "m"}) // in flight through the give-backs
		a1.Done(okRecord("call_g1"))
		a2.Done(okRecord("call_g2"))
		// At its age the block rolls (failing), and its unused
		// credit and the new block come back, tried again.
		team := func() account.Team { tm, _ := s.Team(ctx, tm.ID); return tm }
		waitUntil(t, "the give-backs", func() bool { return st.writes() >= 6 && team().Reserved == 1 })
		a3.Done(okRecord("call_g3"))
		waitUntil(t, "the last call's record", func() bool { return team().Reserved <= 0 })
		if got := team(); got.Credits != 97 || got.Reserved != 0 {
			t.Fatalf("team %+v, want 97 credits (3 calls paid), none reserved", got)
		}
	})
}

// hangingTake is a store whose block takes hang until their context ends
// (a database that does not answer), noting the deadlines the process
// gave its writes.
type hangingTake struct {
	kept
	mu        sync.Mutex
	deadlines []time.Time
}

func (h *hangingTake) note(ctx context.Context) {
	d, _ := ctx.Deadline()
	h.mu.Lock()
	h.deadlines = append(h.deadlines, d)
	h.mu.Unlock()
}

func (h *hangingTake) TakeBlock(ctx context.Context, r account.Reservation, share, floor int64) (int64, error) {
	h.note(ctx)
	<-ctx.Done()
	return 0, ctx.Err()
}

func (h *hangingTake) Reserve(ctx context.Context, r account.Reservation) error {
	h.note(ctx)
	return h.kept.Reserve(ctx, r)
}

// A call's store writes share one bound: a take that hangs uses it up,
// and the reservation after it gets what is left, not a bound of its
// own (a call waited out both, and a key lookup twice, before its
// 500). The call is refused as the store unavailable, a 503 to retry.
func TestAdmissionOneStoreBound(t *testing.T) {
	account.SetStoreWait(t, 200*time.Millisecond)
	ctx := context.Background()
	sa := storetest.Open(t, "sqlite")
	listening(t, sa)
	st := &hangingTake{kept: kept{sa}}
	s := account.New(st, account.Config{Auth: true, CreditBlocks: true, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	tm, _ := s.CreateTeam(ctx, "acme", 100)
	var key string
	heard(t, func() { key, _, _ = s.CreateKey(ctx, tm.ID, "", account.Limits{}) }, sa)
	_, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
	if e := stream.AsError(err); e == nil || e.Code != stream.CodeUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("a call whose store hangs: %v; want unavailable, with Retry-After", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.deadlines) != 2 || !st.deadlines[0].Equal(st.deadlines[1]) || st.deadlines[0].IsZero() {
		t.Fatalf("the take's and the reservation's deadlines: %v; want one, the same", st.deadlines)
	}
}

// failingHeld fails its first fails refused calls' give-backs (Held
// closes): before anything is stored or, with stored, after it is.
type failingHeld struct {
	kept
	stored bool
	mu     sync.Mutex
	fails  int
	tries  int
}

func (f *failingHeld) heldTries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries
}

func (f *failingHeld) CloseBlock(ctx context.Context, c account.BlockClose) error {
	if !c.Held {
		return f.kept.CloseBlock(ctx, c)
	}
	f.mu.Lock()
	f.tries++
	failing := f.tries <= f.fails
	f.mu.Unlock()
	return failWrite(failing, f.stored, func() error { return f.kept.CloseBlock(ctx, c) })
}

// A call admitted from a credit block and refused after it (its rate
// limit) while the block closes gives its credit back to the team
// (BlockClose.Held). A give-back the store fails, before or after its
// commit, is tried again until stored, and gives the credit once: not
// kept reserved while the process lives (it was, until its stop), not
// given twice (a second shrink took a credit that a call in flight held).
func TestHeldGiveBackRetried(t *testing.T) {
	eachFailure(t, func(t *testing.T, sa *sqldb.Store, stored bool) {
		ctx := context.Background()
		st := &failingHeld{kept: kept{sa}, stored: stored, fails: 3}
		s := account.New(st, account.Config{Auth: true, CreditBlocks: true, Logger: slog.New(slog.DiscardHandler)})
		defer s.Close()
		tm, _ := s.CreateTeam(ctx, "acme", 100)
		var key string
		heard(t, func() { key, _, _ = s.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 3}) }, sa)
		kctx := keyCtx(t, s, key)
		// The first block holds 4 credits: three calls, then a
		// fourth that uses it up (closing it) and is refused by
		// the key's 3 requests a minute.
		var adms []gateway.Admission
		for i := range 3 {
			a, err := s.Admit(kctx, &stream.Request{Model: "m"})
			if err != nil || account.BlockOf(a) == "" {
				t.Fatalf("call %d: %v, block %q", i, err, account.BlockOf(a))
			}
			adms = append(adms, a)
		}
		if _, err := s.Admit(kctx, &stream.Request{Model: "m"}); codeOf(err) != stream.CodeRateLimited {
			t.Fatalf("fourth call: %v, want rate limited", err)
		}
		if id := s.OpenBlock(tm.ID); id != "" {
			t.Fatalf("block %s still open after its last credit", id)
		}
		team := func() account.Team { tm, _ := s.Team(ctx, tm.ID); return tm }
		// The refused call's credit comes back after its failed
		// tries, while the three calls are still in flight.
		waitUntil(t, "the refused call's give-back", func() bool { return st.heldTries() > st.fails && team().Reserved <= 3 })
		if got := team(); got.Credits != 100 || got.Reserved != 3 {
			t.Fatalf("team %+v, want 100 credits, 3 reserved (the calls in flight)", got)
		}
		for i, a := range adms {
			a.Done(okRecord(fmt.Sprintf("call_h%d", i)))
		}
		waitUntil(t, "the calls' records", func() bool { return team().Reserved <= 0 })
		if got := team(); got.Credits != 97 || got.Reserved != 0 {
			t.Fatalf("team %+v, want 97 credits (3 calls paid), none reserved", got)
		}
	})
}

// eachFailure runs f on a fresh store of each kind, its writes failing
// before their commit and (stored) after it.
func eachFailure(t *testing.T, f func(t *testing.T, sa *sqldb.Store, stored bool)) {
	for _, kind := range storetest.Backends {
		for _, stored := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stored=%v", kind, stored), func(t *testing.T) {
				sa := storetest.Open(t, kind)
				listening(t, sa)
				f(t, sa, stored)
			})
		}
	}
}
