package account_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/journal"
	"github.com/runnel/runnel/account/store/sqldb"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// refusing is a store whose call records never commit, as when the
// database is down or the server is killed before the write.
type refusing struct{ kept }

func (refusing) RecordCall(context.Context, *account.Call, *account.Settlement) error {
	return errors.New("database unavailable")
}

func (refusing) RecordCalls(context.Context, []*account.Call) ([]bool, error) {
	return nil, errors.New("database unavailable")
}

// kept is a store that a Service's Close leaves open, for the next one.
type kept struct{ *sqldb.Store }

func (kept) Close() error { return nil }

// A call's record is in the store when Done returns, so the reads that
// follow show it. One the store could not take goes to the journal and is
// stored by the next owner of the journal, exactly once, credits included,
// on both databases.
func TestJournaledRecords(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := storetest.OpenPair(t, kind)
			path := filepath.Join(t.TempDir(), "calls.journal")
			cfg := account.Config{Auth: true, Journal: path, Logger: slog.New(slog.DiscardHandler)}

			// A working server: usage and balance read right after show
			// the call.
			s := account.New(sa, cfg)
			tm, _ := s.CreateTeam(ctx, "acme", 3)
			key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
			call := func(s *account.Service) {
				a, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
				if err != nil {
					t.Fatal(err)
				}
				a.Done(&gateway.Record{ID: "call_first", Provider: "mock", Model: "m",
					Usage: stream.Usage{PromptTokens: 2, CompletionTokens: 3}, Status: "ok"})
			}
			call(s)
			if got, _ := s.Team(ctx, tm.ID); got.Credits != 2 {
				t.Fatalf("credits right after a call: %d, want 2", got.Credits)
			}
			if n := calls(t, s, tm.ID); n != 1 {
				t.Fatalf("%d calls in usage right after the call, want 1", n)
			}
			// A call that ends after the service closed finds neither
			// batcher nor store; it must not panic.
			late, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			late.Done(&gateway.Record{ID: "call_late", Provider: "mock", Model: "m", Status: "cancelled"})

			// A server whose store refuses records: the call still ends,
			// its record stays journaled.
			broken := account.New(refusing{kept{sb}}, cfg)
			a, err := broken.Admit(keyCtx(t, broken, key), &stream.Request{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			a.Done(&gateway.Record{ID: "call_journaled0000000000", Provider: "mock", Model: "m",
				Usage: stream.Usage{PromptTokens: 2, CompletionTokens: 3}, Status: "ok"})
			broken.Close()

			// The next owner stores it, once. The second round replays the
			// same entry again, as after a crash between storing it and
			// emptying the journal: it is skipped.
			saved, err := os.ReadFile(path)
			if err != nil || len(saved) == 0 {
				t.Fatalf("journal after the refused write: %q %v", saved, err)
			}
			for round := range 2 {
				c := cfg
				// First as an admin command after the crash would: it stores
				// what was left and lets go of the journal at once.
				c.JournalReplayOnly = round == 0
				s := account.New(kept{sb}, c)
				if c.JournalReplayOnly {
					j, err := journal.Open(path, 0)
					if err != nil {
						t.Fatalf("the journal after a replay-only open: %v", err)
					}
					j.Close()
				}
				rows, err := s.Usage(ctx, account.UsageFilter{TeamID: tm.ID})
				if err != nil || len(rows) != 1 || rows[0].Calls != 2 {
					t.Fatalf("usage after the replay: %+v %v, want 2 calls", rows, err)
				}
				if got, _ := s.Team(ctx, tm.ID); got.Credits != 1 {
					t.Fatalf("credits after the replay: %d, want 1 (each call charged once)", got.Credits)
				}
				s.Close()
				if err := os.WriteFile(path, saved, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func calls(t *testing.T, s *account.Service, team string) int64 {
	t.Helper()
	rows, err := s.Usage(context.Background(), account.UsageFilter{TeamID: team})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Calls
	}
	return n
}
