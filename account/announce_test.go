package account_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/stream"
)

// flakyNotify is a store whose announcements of changes fail the first fail
// times.
type flakyNotify struct {
	kept
	fail, tries atomic.Int64
}

func (f *flakyNotify) Changed(ctx context.Context) error {
	if f.tries.Add(1) <= f.fail.Load() {
		return errInjected
	}
	return f.kept.Changed(ctx)
}

// A change whose announcement fails is announced again: another process
// keeps key lookups for keyTTL while it hears of no change, so a revoked
// key would be let in there for that long. It still sees the revocation
// on its very next request when the announcement failed twice; when
// every try fails, the tries are bounded and the failure is logged.
func TestFailedAnnouncementTriedAgain(t *testing.T) {
	defer account.SetAnnouncePauses(account.SetAnnouncePauses([]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}))
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := storetest.OpenPair(t, kind)
			listening(t, sa, sb)
			server := account.New(kept{sa}, account.Config{Auth: true, Logger: slog.New(slog.DiscardHandler)})
			defer server.Close()
			var logs bytes.Buffer
			st := &flakyNotify{kept: kept{sb}}
			cli := account.New(st, account.Config{Auth: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			defer cli.Close()

			tm, err := cli.CreateTeam(ctx, "announce", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var key string
			var k account.Key
			heard(t, func() { key, k, err = cli.CreateKey(ctx, tm.ID, "", account.Limits{}) }, sa)
			if err != nil {
				t.Fatal(err)
			}
			if _, e := server.Authenticate(ctx, key); e != nil {
				t.Fatalf("the new key: %v", e)
			}

			st.tries.Store(0)
			st.fail.Store(2)
			heard(t, func() { _, err = cli.RevokeKey(ctx, k.ID) }, sa)
			if err != nil {
				t.Fatal(err)
			}
			if n := st.tries.Load(); n != 3 {
				t.Errorf("announced %d times, want 3 (two failures, then heard)", n)
			}
			if _, e := server.Authenticate(ctx, key); e == nil || e.Code != stream.CodeUnauthorized {
				t.Fatalf("the revoked key on the other process: %v, want unauthorized", e)
			}
			if logs.Len() != 0 {
				t.Errorf("a change heard at the third try logged: %s", logs.String())
			}

			st.tries.Store(0)
			st.fail.Store(1 << 30)
			if _, err := cli.SetTeamLimits(ctx, tm.ID, account.Limits{}, 5); err != nil {
				t.Fatal(err)
			}
			if n, want := st.tries.Load(), int64(4); n != want {
				t.Errorf("a change never heard announced %d times, want %d", n, want)
			}
			if !strings.Contains(logs.String(), "announcing a change") {
				t.Errorf("a change never announced was not logged: %q", logs.String())
			}
		})
	}
}
