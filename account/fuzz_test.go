package account_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/stream"
)

// FuzzAuthenticate: whatever credentials a request carries, only the real
// key authenticates, nothing panics, and no error message repeats them.
func FuzzAuthenticate(f *testing.F) {
	s := account.New(storetest.Open(f, "sqlite"), account.Config{Auth: true, AdminKey: "admin-key-for-fuzzing"})
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	tm, _ := s.CreateTeam(ctx, "fuzz", 1)
	key, _, err := s.CreateKey(ctx, tm.ID, "", account.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"Bearer " + key, "bearer " + key[:11] + "xxxx", "Bearer ", "Basic abc", key, "Bearer rk_" + strings.Repeat("a", 40), "Bearer admin-key-for-fuzzing", "\x00\xff"} {
		f.Add(seed, "")
		f.Add("", seed)
	}
	f.Fuzz(func(t *testing.T, authz, xkey string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Authorization"] = []string{authz}
		req.Header["X-Api-Key"] = []string{xkey}
		var admitErr error
		s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, admitErr = s.Admit(r.Context(), &stream.Request{Model: "m"})
		})).ServeHTTP(httptest.NewRecorder(), req)
		given := account.KeyFromRequest(req)
		switch {
		case given == key:
			if admitErr != nil && !strings.Contains(admitErr.Error(), "credits") {
				t.Fatalf("the real key was refused: %v", admitErr)
			}
		case given == "admin-key-for-fuzzing":
			if admitErr != nil {
				t.Fatalf("the admin key was refused: %v", admitErr)
			}
		default:
			if admitErr == nil {
				t.Fatalf("%q authenticated", given)
			}
			if len(given) >= 12 && strings.Contains(admitErr.Error(), given) {
				t.Fatalf("error repeats the credentials: %v", admitErr)
			}
		}
	})
}

// FuzzPendingHolds: the holds of a record kept in Redis, read back from
// its key, are the reservation and job it was put with (call ids may
// hold '|', but not "|job:", which the gateway's ids never do); any key
// parses without panicking.
func FuzzPendingHolds(f *testing.F) {
	f.Add("call_a", "job_1", "res_1")
	f.Add("call|x", "", "res_2")
	f.Add("", "job:odd", "")
	f.Fuzz(func(t *testing.T, call, job, res string) {
		if strings.Contains(job, "|") || strings.Contains(res, "|") || strings.Contains(call, "|job:") {
			account.PendingHolds(call + "|" + job + "|" + res) // only: no panic
			return
		}
		c := &account.Call{ID: call, Reservation: res}
		var want []string
		if res != "" {
			want = append(want, "res:"+res)
		}
		if job != "" {
			c.Settle = &account.Settlement{JobID: job}
			want = append(want, "job:"+job)
		}
		got := account.PendingHolds(account.PendingKey(c))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("holds of %+v: %q, want %q", c, got, want)
		}
	})
}
