package sqldb_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
)

// BenchmarkAuthKeys is the one store read on the way to a first token.
func BenchmarkAuthKeys(b *testing.B) {
	for _, kind := range storetest.Backends {
		b.Run(kind, func(b *testing.B) {
			s := storetest.Open(b, kind)
			ctx := context.Background()
			s.CreateTeam(ctx, account.Team{ID: "team_a", Name: "a", Credits: 1, Created: t0})
			s.CreateKey(ctx, account.Key{ID: "key_a", TeamID: "team_a", Prefix: "rk_abcdefgh", Hash: []byte{1}, Created: t0})
			b.ResetTimer()
			for range b.N {
				if ks, err := s.AuthKeys(ctx, "rk_abcdefgh"); err != nil || len(ks) != 1 {
					b.Fatal(ks, err)
				}
			}
		})
	}
}

// BenchmarkWanted is a credit block's look at its team's mark, once a
// second per open block, under a deadline as the look has.
func BenchmarkWanted(b *testing.B) {
	for _, kind := range storetest.Backends {
		b.Run(kind, func(b *testing.B) {
			s := storetest.Open(b, kind)
			s.CreateTeam(context.Background(), account.Team{ID: "team_a", Name: "a", Credits: 1, Created: t0})
			b.ResetTimer()
			for range b.N {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if n, err := s.Wanted(ctx, "team_a"); err != nil || n != 0 {
					b.Fatal(n, err)
				}
				cancel()
			}
		})
	}
}

// BenchmarkRecordBlockCalls stores groups of plain calls as the batcher
// does, one group an op: "anonymous" calls with no team (auth off),
// against calls of a team admitted from its credit block ("block"), with
// the block closed and a new one taken every 256 groups (about a
// block's life at this rate), its close included. cpu-µs/op is this
// process's CPU (SQLite runs in it; PostgreSQL's server is not counted).
func BenchmarkRecordBlockCalls(b *testing.B) {
	const group, blockGroups = 4, 256
	for _, kind := range storetest.Backends {
		for _, v := range []string{"anonymous", "block"} {
			b.Run(kind+"/"+v, func(b *testing.B) {
				s := storetest.Open(b, kind)
				ctx := context.Background()
				s.CreateTeam(ctx, account.Team{ID: "team_a", Name: "a", Credits: 1 << 40, Created: t0})
				block, n := "", 0
				take := func() {
					if block != "" {
						if err := s.ReturnBlock(ctx, block, 0); err != nil {
							b.Fatal(err)
						}
					}
					block = fmt.Sprintf("blk_%d", n)
					if got, err := s.TakeBlock(ctx, account.Reservation{ID: block, TeamID: "team_a", Owner: "o", Credits: group * blockGroups}, 4, 0); err != nil || got != group*blockGroups {
						b.Fatal(got, err)
					}
				}
				cs := make([]*account.Call, group)
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := range b.N {
					if v == "block" && i%blockGroups == 0 {
						take()
					}
					for k := range cs {
						n++
						cs[k] = &account.Call{ID: fmt.Sprintf("call_%d", n), Provider: "mock", Model: "m", Request: `{"model":"m"}`, Output: "out",
							Usage: account.Usage{InputTokens: 3, OutputTokens: 20}, Started: t0, Status: "ok", Finish: "stop"}
						if v == "block" {
							cs[k].TeamID, cs[k].KeyID, cs[k].Credits, cs[k].Block, cs[k].Held = "team_a", "key_a", 1, block, 1
						}
					}
					if _, err := s.RecordCalls(ctx, cs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// BenchmarkBlockSecond is the store's work for one credit block of a
// busy team, one op a block, with 2 calls recorded inside each (the same
// in both): "separate" takes it, gives the last block back (folding it)
// and folds the one before after its last call, three transactions as
// before the roll; "roll" does all three in one (RollBlock: the last
// block closed unfolded, the one before folded, this one taken).
func BenchmarkBlockSecond(b *testing.B) {
	for _, kind := range storetest.Backends {
		for _, v := range []string{"separate", "roll"} {
			b.Run(kind+"/"+v, func(b *testing.B) {
				s := storetest.Open(b, kind)
				ctx := context.Background()
				s.CreateTeam(ctx, account.Team{ID: "team_a", Name: "a", Credits: 1 << 40, Created: t0})
				ids := []string{"", ""} // the block before the last, the last
				n := 0
				b.ResetTimer()
				for i := range b.N {
					id := fmt.Sprintf("blk_%d", i)
					r := account.Reservation{ID: id, TeamID: "team_a", Owner: "o", Credits: 100}
					var got int64
					var err error
					switch {
					case v == "separate" || ids[1] == "":
						if got, err = s.TakeBlock(ctx, r, 4, 0); err == nil && ids[1] != "" {
							err = s.ReturnBlock(ctx, ids[1], 98)
						}
						if err == nil && ids[0] != "" {
							err = s.ReturnBlock(ctx, ids[0], 0)
						}
					default:
						c := account.BlockClose{ID: ids[1], Credits: 98}
						if ids[0] != "" {
							c.Folds = []string{ids[0]}
						}
						got, err = s.RollBlock(ctx, c, r, 4, 0)
					}
					if err != nil || got != 100 {
						b.Fatal(got, err)
					}
					cs := make([]*account.Call, 2)
					for k := range cs {
						n++
						cs[k] = &account.Call{ID: fmt.Sprintf("call_%d", n), TeamID: "team_a", KeyID: "key_a", Credits: 1, Block: id, Held: 1, FoldLater: true, Started: t0, Status: "ok"}
					}
					if _, err := s.RecordCalls(ctx, cs); err != nil {
						b.Fatal(err)
					}
					ids[0], ids[1] = ids[1], id
				}
			})
		}
	}
}

// cpuTime is this process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
