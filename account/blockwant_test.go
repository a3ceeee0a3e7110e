package account_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/stream"
)

// wantPair is two processes on one store, a with credit blocks, b with
// them if bBlocks (else as the CLI): a holds a block of a team of
// credits credits (its first: 4 credits, one handed out and recorded
// inside it), taken under the change versions both have heard.
func wantPair(t *testing.T, kind string, credits int64, bBlocks bool) (a, b *account.Service, tm account.Team, key, block string) {
	t.Helper()
	return wantPairOn(t, kind, credits, bBlocks, nil, nil, nil)
}

// wantPairOn is wantPair with a's and b's stores made by wrapA and wrapB
// (nil: as they are), and b logging to bLog if not nil.
func wantPairOn(t *testing.T, kind string, credits int64, bBlocks bool, wrapA, wrapB func(kept) account.Store, bLog *slog.Logger) (a, b *account.Service, tm account.Team, key, block string) {
	t.Helper()
	ctx := context.Background()
	sa, sb := storetest.OpenPair(t, kind)
	listening(t, sa, sb)
	quiet := slog.New(slog.DiscardHandler)
	if bLog == nil {
		bLog = quiet
	}
	var sta, stb account.Store = kept{sa}, kept{sb}
	if wrapA != nil {
		sta = wrapA(kept{sa})
	}
	if wrapB != nil {
		stb = wrapB(kept{sb})
	}
	a = account.New(sta, account.Config{Auth: true, CreditBlocks: true, Logger: quiet})
	t.Cleanup(func() { a.Close() })
	b = account.New(stb, account.Config{Auth: true, CreditBlocks: bBlocks, Logger: bLog})
	t.Cleanup(func() { b.Close() })
	heard(t, func() {
		tm, _ = a.CreateTeam(ctx, "acme", credits)
		key, _, _ = a.CreateKey(ctx, tm.ID, "", account.Limits{})
	}, sa, sb)
	adm, err := a.Admit(keyCtx(t, a, key), &stream.Request{Model: "m"})
	if err != nil || account.BlockOf(adm) == "" {
		t.Fatalf("first call: %v, block %q", err, account.BlockOf(adm))
	}
	adm.Done(okRecord("call_a"))
	return a, b, tm, key, account.BlockOf(adm)
}

// marks counts a store's reads of teams' marks.
type marks struct {
	kept
	reads atomic.Int64
}

func (m *marks) Wanted(ctx context.Context, team string) (int64, error) {
	m.reads.Add(1)
	return m.kept.Wanted(ctx, team)
}

// spendPerCall spends n credits of team from b, a call each (too few are
// free for a block of b's own).
func spendPerCall(t *testing.T, b *account.Service, key string, n int) {
	t.Helper()
	for i := range n {
		adm, err := b.Admit(keyCtx(t, b, key), &stream.Request{Model: "m"})
		if err != nil {
			t.Fatalf("b, call %d: %v", i, err)
		}
		adm.Done(okRecord(fmt.Sprintf("call_b%d", i)))
	}
}

// admittedAfterRefusal: with a's block (the team's 64 credits, 4 in
// the block, one of them used) still open and the 60 free spent on b,
// b's next call is refused, closes the block, and is admitted within its
// wait, on the block's 3 unused credits; the team pays exactly its 62
// calls.
func admittedAfterRefusal(t *testing.T, a, b *account.Service, tm account.Team, key, block string) {
	t.Helper()
	if got := a.OpenBlock(tm.ID); got != block {
		t.Fatalf("open block %q before any refusal, want %q still", got, block)
	}
	adm, err := b.Admit(keyCtx(t, b, key), &stream.Request{Model: "m"})
	if err != nil {
		t.Fatalf("a call refused for credits a block held: %v", err)
	}
	adm.Done(okRecord("call_b_last"))
	if got := a.OpenBlock(tm.ID); got != "" {
		t.Fatalf("open block %q after a refusal, want none", got)
	}
	a.CloseBlocks()
	if got, err := b.Team(context.Background(), tm.ID); err != nil || got.Credits != 2 || got.Reserved != 0 {
		t.Fatalf("team %+v (%v), want 62 calls paid, none reserved", got, err)
	}
}

// While the change view is up and nothing is announced, a block's looks
// do not read the team's mark (the take read it); a refusal on another
// process announces its mark, so the block still closes at its next
// look and the refused call is admitted within its wait, the team
// paying exactly its calls.
func TestLookReadsMarkOnlyWhenAnnounced(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			var st *marks
			wrap := func(k kept) account.Store { st = &marks{kept: k}; return st }
			a, b, tm, key, block := wantPairOn(t, kind, 64, true, wrap, nil, nil)
			taken := st.reads.Load()
			time.Sleep(3*account.BlockLook + 500*time.Millisecond)
			if n := st.reads.Load() - taken; n != 0 {
				t.Fatalf("three looks with nothing announced read the mark %d times, want 0", n)
			}
			spendPerCall(t, b, key, 60)
			admittedAfterRefusal(t, a, b, tm, key, block)
		})
	}
}

// A refusal whose mark's announcement fails every try is logged and
// refused after its wait: the other process's block, whose looks read
// the mark only when the change view moves, closes at its age instead,
// giving its unused credits back.
func TestUnannouncedMarkClosesBlockAtAge(t *testing.T) {
	defer account.SetAnnouncePauses(account.SetAnnouncePauses([]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}))
	account.SetBlockMaxAge(t, 6*account.BlockLook)
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			var logs bytes.Buffer
			var st *flakyNotify
			wrap := func(k kept) account.Store { st = &flakyNotify{kept: k}; return st }
			a, b, tm, key, block := wantPairOn(t, kind, 64, true, nil, wrap, slog.New(slog.NewTextHandler(&logs, nil)))
			st.fail.Store(1 << 30)
			spendPerCall(t, b, key, 60)
			if _, err := b.Admit(keyCtx(t, b, key), &stream.Request{Model: "m"}); codeOf(err) != stream.CodeInsufficientCredit {
				t.Fatalf("a call refused for credits a block held, its mark unannounced: %v, want refused", err)
			}
			if n := st.tries.Load(); n != 4 {
				t.Errorf("the mark announced %d times, want 4 (every try failed)", n)
			}
			if !strings.Contains(logs.String(), "announcing a team's mark") {
				t.Errorf("a mark never announced was not logged: %q", logs.String())
			}
			if got := a.OpenBlock(tm.ID); got != block {
				t.Fatalf("open block %q after an unannounced mark, want %q until its age", got, block)
			}
			waitUntil(t, "the block to close at its age", func() bool { return a.OpenBlock(tm.ID) == "" })
			waitUntil(t, "its unused credits to come back", func() bool {
				got, err := b.Team(ctx, tm.ID)
				return err == nil && got.Reserved == 0
			})
			if got, err := b.Team(ctx, tm.ID); err != nil || got.Credits != 3 {
				t.Fatalf("team %+v (%v), want 61 calls paid", got, err)
			}
		})
	}
}

// A block outlives its second while nobody waits for its team's credits
// (no roll, no close); once another process is refused for them, it
// marks the team, the block's process gives back at its next look, and
// the refused call is admitted within its wait. The team pays exactly
// its calls.
func TestRefusalClosesLongBlock(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			a, b, tm, key, block := wantPair(t, kind, 64, true)
			time.Sleep(account.BlockLook + 500*time.Millisecond)
			if got := a.OpenBlock(tm.ID); got != block {
				t.Fatalf("open block %q %v after its take, want %q still", got, account.BlockLook+500*time.Millisecond, block)
			}
			// b spends what is free (64 - the block's 4), per call: too
			// few credits are free for a block of its own.
			spendPerCall(t, b, key, 60)
			admittedAfterRefusal(t, a, b, tm, key, block)
		})
	}
}

// Credits taken away by another process without blocks of its own (the
// CLI beside a server) while the server's block holds some: the removal
// waits for the block to give them back rather than failing for a
// block's age.
func TestRemovalClosesLongBlock(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			a, b, tm, key, _ := wantPair(t, kind, 100, false)
			got, err := b.Team(ctx, tm.ID)
			if err != nil || got.Credits != 99 {
				t.Fatalf("team %+v (%v), want 99 credits", got, err)
			}
			if got, err = b.AddCredits(ctx, tm.ID, -99); err != nil || got.Credits != 0 {
				t.Fatalf("removing every credit while a block held some: %+v, %v", got, err)
			}
			if _, err := a.Admit(keyCtx(t, a, key), &stream.Request{Model: "m"}); stream.AsError(err).Code != stream.CodeInsufficientCredit {
				t.Fatalf("a call after every credit was removed: %v", err)
			}
			a.CloseBlocks()
			if got, err := b.Team(ctx, tm.ID); err != nil || got.Credits != 0 || got.Reserved != 0 {
				t.Fatalf("team %+v (%v), want none left, none reserved", got, err)
			}
		})
	}
}

// A block with nothing marked closes at blockMaxAge, its unused credits
// given back; one that handed out nothing in its last second is not
// followed by the next (a team that stopped leaves nothing parked).
func TestLongBlockClosesAtMaxAge(t *testing.T) {
	account.SetBlockMaxAge(t, 2*account.BlockLook)
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			a, b, tm, _, block := wantPair(t, kind, 100, true)
			waitUntil(t, "the block to close at its age", func() bool { return a.OpenBlock(tm.ID) != block })
			if got := a.OpenBlock(tm.ID); got != "" {
				t.Fatalf("block %q after an idle block's age, want none", got)
			}
			waitUntil(t, "its unused credits to come back", func() bool {
				got, err := b.Team(ctx, tm.ID)
				return err == nil && got.Reserved == 0
			})
			if got, err := b.Team(ctx, tm.ID); err != nil || got.Credits != 99 {
				t.Fatalf("team %+v (%v), want 99 credits", got, err)
			}
		})
	}
}
