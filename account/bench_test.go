package account_test

import (
	"context"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
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
