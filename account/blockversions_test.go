package account_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/stream"
)

// takes counts a store's block takes and change-version reads.
type takes struct {
	*sqldb.Store
	blocks, versions atomic.Int64
}

func (s *takes) TakeBlock(ctx context.Context, r account.Reservation, share, floor int64) (int64, error) {
	s.blocks.Add(1)
	return s.Store.TakeBlock(ctx, r, share, floor)
}

// RollBlock takes a block too, as the last closes.
func (s *takes) RollBlock(ctx context.Context, c account.BlockClose, r account.Reservation, share, floor int64) (int64, error) {
	s.blocks.Add(1)
	return s.Store.RollBlock(ctx, c, r, share, floor)
}

func (s *takes) Version() (uint64, bool) {
	s.versions.Add(1)
	return s.Store.Version()
}

func (*takes) Close() error { return nil }

// A call admitted from the open credit block reads the change versions
// once, when its key is checked (SQLite: one stat of the marker a call,
// not two), yet a change still stops the block: this process's own at
// once, even for a call whose key was checked before it, and another
// process's for every call whose key is checked after it is heard.
func TestBlockAdmitReadsVersionsOnce(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			a, b := storetest.OpenPair(t, kind)
			listening(t, a, b)
			st := &takes{Store: a}
			server := account.New(st, account.Config{Auth: true, CreditBlocks: true, Logger: slog.New(slog.DiscardHandler)})
			defer server.Close()
			cli := account.New(kept{b}, account.Config{Auth: true, Logger: slog.New(slog.DiscardHandler)})
			defer cli.Close()
			tm, err := cli.CreateTeam(ctx, "versions", 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			var key string
			heard(t, func() { key, _, err = cli.CreateKey(ctx, tm.ID, "", account.Limits{}) }, a)
			if err != nil {
				t.Fatal(err)
			}
			checked := func() context.Context {
				id, e := server.Authenticate(ctx, key)
				if e != nil {
					t.Fatal(e)
				}
				return account.NewContext(ctx, id)
			}
			admit := func(ctx context.Context, wantTakes int64, what string) {
				t.Helper()
				adm, err := server.Admit(ctx, &stream.Request{Model: "m"})
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				defer adm.Done(okRecord(""))
				if n := st.blocks.Load(); n != wantTakes {
					t.Fatalf("%s: %d blocks taken, want %d", what, n, wantTakes)
				}
			}

			admit(checked(), 1, "the first call")
			before := st.versions.Load()
			admit(checked(), 1, "a call from the open block")
			if n := st.versions.Load() - before; n != 1 {
				t.Fatalf("a call from the open block read the versions %d times, want 1", n)
			}

			// This process's change, after the key check: the block
			// closes and the call takes a new one.
			// (On PostgreSQL the server hears its own notification too;
			// waiting for it keeps a second take out of the count.)
			early := checked()
			heard(t, func() {
				if _, err := server.AddCredits(ctx, tm.ID, 1); err != nil {
					t.Fatal(err)
				}
			}, a)
			admit(early, 2, "a call checked before this process's change")
			admit(checked(), 2, "the next call")

			// Another process's change, heard before the key check.
			heard(t, func() {
				if _, err := cli.AddCredits(ctx, tm.ID, 1); err != nil {
					t.Fatal(err)
				}
			}, a)
			admit(checked(), 3, "a call checked after another process's change")
		})
	}
}
