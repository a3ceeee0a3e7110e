package redisjournal

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

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

// A hold named by a record kept is not let go; one let go before its
// record came is reported by the record's Put; a drain forgets the
// record's holds with it, and only those that still name it.
func TestHolds(t *testing.T) {
	ctx := context.Background()
	j := open(t)
	if err := j.Put(ctx, "call_a|job:job_1|res_a", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"res:res_a", "job:job_1"} {
		if ok, err := j.Release(ctx, "", h); ok || err != nil {
			t.Fatalf("Release(%s) while its record waits: %v, %v; want kept", h, ok, err)
		}
	}
	if ok, err := j.Release(ctx, "", "res:res_b"); !ok || err != nil {
		t.Fatalf("Release of a hold no record names: %v, %v; want let go", ok, err)
	}
	if err := j.Put(ctx, "call_b|res_b", []byte(`{}`)); !errors.Is(err, account.ErrHoldGone) {
		t.Fatalf("Put after its reservation went: %v; want ErrHoldGone", err)
	}
	if n, err := j.Len(ctx); n != 2 || err != nil {
		t.Fatalf("Len = %d, %v; want both records kept", n, err)
	}
	if n, err := j.Drain(ctx, func(context.Context, []account.PendingRecord) ([]string, error) {
		return []string{"call_a|job:job_1|res_a"}, nil
	}); n != 1 || err != nil {
		t.Fatalf("drain: %d, %v", n, err)
	}
	if ok, err := j.Release(ctx, "", "job:job_1"); !ok || err != nil {
		t.Fatalf("Release after its record was stored: %v, %v; want let go", ok, err)
	}
	if ok, _ := j.Release(ctx, "", "res:res_b"); ok {
		t.Fatal("the hold of a record still kept was let go")
	}
	if held, _ := j.rdb.HKeys(ctx, j.held).Result(); !slices.Equal(held, []string{"res:res_b"}) {
		t.Fatalf("holds indexed: %q; want only the waiting record's", held)
	}
}

// A reservation of a replica whose heartbeat lives is not let go, though
// no record names it; once the heartbeat stops, it is.
func TestHeartbeatKeeps(t *testing.T) {
	ctx := context.Background()
	j := open(t)
	if err := j.Heartbeat(ctx, "own_a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := j.Release(ctx, "own_a", "res:r1"); ok || err != nil {
		t.Fatalf("Release while its owner lives: %v, %v; want kept", ok, err)
	}
	if ok, _ := j.Release(ctx, "own_b", "res:r2"); !ok {
		t.Fatal("a reservation of an owner without a heartbeat was kept")
	}
	if err := j.Heartbeat(ctx, "own_a", 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := j.Release(ctx, "own_a", "res:r1"); !ok {
		t.Fatal("kept after its owner stopped")
	}
}

// Several records name one credit block: it stays held until the last of
// them is stored, whichever is stored first; a set member whose record is
// gone (a drainer that failed to remove it) holds nothing.
func TestBlockHeldByEveryRecord(t *testing.T) {
	ctx := context.Background()
	j := open(t)
	for _, k := range []string{"a|blk_1", "b|blk_1", "c|blk_1"} {
		if err := j.Put(ctx, k, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	storeOnly := func(keys ...string) {
		t.Helper()
		if _, err := j.Drain(ctx, func(context.Context, []account.PendingRecord) ([]string, error) { return keys, nil }); err != nil {
			t.Fatal(err)
		}
	}
	// The last put first (rec:held names it), then the first.
	for _, k := range []string{"c|blk_1", "a|blk_1"} {
		storeOnly(k)
		if gone, err := j.Release(ctx, "", "res:blk_1"); gone || err != nil {
			t.Fatalf("after storing %s: released %v, %v; want held for b", k, gone, err)
		}
	}
	storeOnly("b|blk_1")
	if gone, err := j.Release(ctx, "", "res:blk_1"); !gone || err != nil {
		t.Fatalf("after the last: released %v, %v; want let go", gone, err)
	}
	// A stale member (its record removed by hand) does not hold.
	if err := j.Put(ctx, "d|blk_2", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	j.rdb.HDel(ctx, j.pending, "d|blk_2")
	j.rdb.HDel(ctx, j.held, "res:blk_2")
	if gone, err := j.Release(ctx, "", "res:blk_2"); !gone || err != nil {
		t.Fatalf("stale member: released %v, %v; want let go", gone, err)
	}
	if n, _ := j.rdb.Exists(ctx, j.holds+"res:blk_2").Result(); n != 0 {
		t.Fatal("the stale set outlived the release")
	}
}
