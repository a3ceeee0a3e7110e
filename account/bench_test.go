package account_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/redisjournal"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/stream"
)

// BenchmarkAdmission is what the account layer does before a call's first
// token: authenticate the key (one store read) and admit the call.
func BenchmarkAdmission(b *testing.B) {
	for _, kind := range storetest.Backends {
		b.Run(kind, func(b *testing.B) {
			s := account.New(storetest.Open(b, kind), account.Config{Auth: true})
			defer s.Close()
			ctx := context.Background()
			tm, _ := s.CreateTeam(ctx, "bench", 1<<40)
			s.SetTeamLimits(ctx, tm.ID, account.Limits{RPM: 1 << 40, TPM: 1 << 40}, 0)
			key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 1 << 40})
			req := &stream.Request{Model: "m"}
			b.ResetTimer()
			for range b.N {
				id, aerr := s.Authenticate(ctx, key)
				if aerr != nil {
					b.Fatal(aerr)
				}
				a, err := s.Admit(account.NewContext(ctx, id), req)
				if err != nil {
					b.Fatal(err)
				}
				_ = a
			}
		})
	}
}

// BenchmarkDrainShared compares storing refused records from Redis
// (drain: HSCAN, the store's batch, HDEL, under the claim) with storing
// the same records straight in one batch (store: what the batcher does
// when the store accepts), per record, on PostgreSQL; put is what a
// refused record costs its call on top (HSET), and empty a drain round
// with nothing pending (each replica's cost every 2s).
func BenchmarkDrainShared(b *testing.B) {
	ctx := context.Background()
	st := storetest.Open(b, "postgres")
	url, prefix := redistest.Prefix(b)
	j, err := redisjournal.Open(url, prefix)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	s := account.New(kept{st}, account.Config{Logger: slog.New(slog.DiscardHandler)}) // no drains of its own
	defer s.Close()
	tm, _ := s.CreateTeam(ctx, "drain", 1<<40)
	const batch = 128
	seq := 0
	records := func() []*account.Call {
		cs := make([]*account.Call, batch)
		for i := range cs {
			seq++
			cs[i] = &account.Call{ID: fmt.Sprintf("call_bench%09d", seq), TeamID: tm.ID, Provider: "mock", Model: "m",
				Output: "Hello there, how are you today?", Status: "ok", Credits: 1, Started: time.Now().UTC()}
		}
		return cs
	}
	perRecord := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
	}
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			cs := records()
			b.StartTimer()
			if _, err := st.RecordCalls(ctx, cs); err != nil {
				b.Fatal(err)
			}
		}
		perRecord(b)
	})
	b.Run("drain", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			for _, c := range records() {
				rec, _ := json.Marshal(c)
				if err := j.Put(ctx, c.ID+"|", rec); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if n, err := s.DrainFrom(ctx, j); n != batch || err != nil {
				b.Fatalf("drained %d, %v", n, err)
			}
		}
		perRecord(b)
	})
	b.Run("put", func(b *testing.B) {
		rec, _ := json.Marshal(records()[0])
		for i := 0; b.Loop(); i++ {
			if err := j.Put(ctx, fmt.Sprintf("call_put%d|", i), rec); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.DrainFrom(ctx, j)
	})
	// put-held is a refused record with a reservation (the script also
	// indexes it and checks it was not let go); hset is the plain HSET
	// that put was before holds, measured in the same run as a baseline;
	// release is what letting one reservation go costs the releasing
	// replica (one script, in place of reading every pending key).
	b.Run("put-held", func(b *testing.B) {
		rec, _ := json.Marshal(records()[0])
		for i := 0; b.Loop(); i++ {
			if err := j.Put(ctx, fmt.Sprintf("call_held%d|res_held%d", i, i), rec); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.DrainFrom(ctx, j)
	})
	b.Run("hset", func(b *testing.B) {
		opt, _ := redis.ParseURL(url)
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		rec, _ := json.Marshal(records()[0])
		for i := 0; b.Loop(); i++ {
			if err := rdb.HSet(ctx, prefix+"bench:hset", fmt.Sprintf("call_hset%d|", i), rec).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		rdb.Del(ctx, prefix+"bench:hset")
	})
	b.Run("release", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := j.Release(ctx, "own_bench", fmt.Sprintf("res:res_rel%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("empty", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.DrainFrom(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
	})
}
