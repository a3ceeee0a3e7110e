package account_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// batchCounter lets the first two batches (one per writer) wait on gate,
// and notes every batch's size.
type batchCounter struct {
	account.Store
	gate  chan struct{}
	mu    sync.Mutex
	sizes []int
}

func (b *batchCounter) RecordCalls(ctx context.Context, cs []*account.Call) ([]bool, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(cs))
	n := len(b.sizes)
	b.mu.Unlock()
	if n <= 2 {
		<-b.gate
	}
	return b.Store.RecordCalls(ctx, cs)
}

// held returns how many batches wait on gate, and their records.
func (b *batchCounter) held() (batches, records int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := 0; i < len(b.sizes) && i < 2; i++ {
		batches++
		records += b.sizes[i]
	}
	return batches, records
}

// Records that arrive while the writers commit go together in the next
// transaction: 21 calls ending at once take at most four, and every one
// is stored and charged.
func TestGroupCommit(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			bc := &batchCounter{Store: storetest.Open(t, kind), gate: make(chan struct{})}
			s := account.New(bc, account.Config{Auth: true, Logger: slog.New(slog.DiscardHandler)})
			open := sync.OnceFunc(func() { close(bc.gate) })
			defer s.Close()
			defer open() // a failed wait must not leave Close waiting on held writers
			ctx := context.Background()
			tm, err := s.CreateTeam(ctx, "batch", 100)
			if err != nil {
				t.Fatal(err)
			}
			key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
			var wg sync.WaitGroup
			for i := range 21 {
				a, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() { a.Done(&gateway.Record{ID: fmt.Sprintf("call_batch%02d", i), Status: "ok"}) })
			}
			// Each writer may take more than one record into its held batch
			// (one may even take all 21), depending on how the calls' ends
			// interleave; wait until every record is held or queued, with
			// both writers holding a batch unless the first took them all.
			guard := time.Now().Add(time.Minute) // a deadlock guard, not a timing
			for {
				batches, taken := bc.held()
				if (batches == 2 || taken == 21) && s.QueuedRecords() == 21-taken {
					break
				}
				if time.Now().After(guard) {
					t.Fatalf("%d batches held with %d records, %d queued: want 2 held and the rest queued", batches, taken, s.QueuedRecords())
				}
				time.Sleep(time.Millisecond)
			}
			open()
			wg.Wait()
			total := 0
			for _, n := range bc.sizes {
				total += n
			}
			if total != 21 || len(bc.sizes) > 4 {
				t.Fatalf("batches %v: want 21 records in at most 4 transactions", bc.sizes)
			}
			if got, _ := s.Team(ctx, tm.ID); got.Credits != 79 || got.Reserved != 0 {
				t.Fatalf("team after: %+v, want 79 credits, none reserved", got)
			}
		})
	}
}

// A stream continued on another process is recorded there under its first
// call's id: whichever record comes second stores and charges nothing, and
// every admission's reservation is released.
func TestSameCallIDRecordedOnce(t *testing.T) {
	s := account.New(storetest.Open(t, "postgres"), account.Config{Auth: true, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	ctx := context.Background()
	tm, _ := s.CreateTeam(ctx, "continued", 5)
	key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
	for range 2 {
		a, err := s.Admit(keyCtx(t, s, key), &stream.Request{Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		a.Done(&gateway.Record{ID: "call_continued", Status: "ok", Usage: stream.Usage{CompletionTokens: 3}})
	}
	got, _ := s.Team(ctx, tm.ID)
	rows, _ := s.Usage(ctx, account.UsageFilter{TeamID: tm.ID})
	if got.Credits != 4 || got.Reserved != 0 || len(rows) != 1 || rows[0].Calls != 1 {
		t.Fatalf("team %+v, usage %+v: want one call, charged once, nothing reserved", got, rows)
	}
}

func TestPendingHolds(t *testing.T) {
	for key, want := range map[string][]string{
		"call_a|res_1":           {"res:res_1"},
		"call_a|":                nil,
		"call_a|job:job_1|":      {"job:job_1"},
		"call_a|job:job_1|res_1": {"res:res_1", "job:job_1"},
		"nobar":                  nil,
	} {
		if got := account.PendingHolds(key); !slices.Equal(got, want) {
			t.Errorf("PendingHolds(%q) = %q, want %q", key, got, want)
		}
	}
}
