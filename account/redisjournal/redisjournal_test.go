package redisjournal

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/internal/redistest"
)

func open(t *testing.T) *Journal {
	t.Helper()
	url, prefix := redistest.Prefix(t)
	j, err := Open(url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// A drain leaves the records to the replica that holds the claim; it
// forgets only what store says it stored, and stops at store's error.
func TestDrainClaimAndPartialStore(t *testing.T) {
	ctx := context.Background()
	j := open(t)
	for _, k := range []string{"a|r1", "b|r2", "c|"} {
		if err := j.Put(ctx, k, []byte(`{"ID":"`+k[:1]+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := j.Len(ctx); n != 3 || err != nil {
		t.Fatalf("Len = %d, %v; want 3", n, err)
	}
	called := 0
	count := func(context.Context, []account.PendingRecord) ([]string, error) { called++; return nil, nil }
	if err := j.rdb.Set(ctx, j.claim, "another replica", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := j.Drain(ctx, count); n != 0 || err != nil || called != 0 {
		t.Fatalf("drain under another's claim: %d, %v, store called %d times; want nothing", n, err, called)
	}
	j.rdb.Del(ctx, j.claim) // as when its time runs out

	down := errors.New("store down")
	n, err := j.Drain(ctx, func(_ context.Context, recs []account.PendingRecord) ([]string, error) {
		if len(recs) != 3 {
			t.Errorf("store got %d records, want 3", len(recs))
		}
		return []string{"b|r2"}, down
	})
	if n != 1 || !errors.Is(err, down) {
		t.Fatalf("drain with a failing store: %d, %v; want 1 forgotten and its error", n, err)
	}
	keys, _ := j.Keys(ctx)
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a|r1", "c|"}) {
		t.Fatalf("kept %q, want the two unstored", keys)
	}
	if ex, _ := j.rdb.Exists(ctx, j.claim).Result(); ex != 0 {
		t.Fatal("the claim outlived the drain")
	}
	if n, err := j.Drain(ctx, func(_ context.Context, recs []account.PendingRecord) ([]string, error) {
		var ks []string
		for _, r := range recs {
			ks = append(ks, r.Key)
		}
		return ks, nil
	}); n != 2 || err != nil {
		t.Fatalf("last drain: %d, %v; want 2", n, err)
	}
	if n, err := j.Drain(ctx, count); n != 0 || err != nil || called != 0 {
		t.Fatalf("drain of nothing: %d, %v, store called %d times", n, err, called)
	}
}
