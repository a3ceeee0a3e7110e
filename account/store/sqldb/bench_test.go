package sqldb_test

import (
	"context"
	"testing"

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
