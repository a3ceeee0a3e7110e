package account_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, kind string, cfg account.Config) (*account.Service, *clock) {
	c := &clock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	cfg.Now = c.Now
	s := account.New(storetest.Open(t, kind), cfg)
	t.Cleanup(func() { s.Close() })
	return s, c
}

func codeOf(err error) stream.Code {
	var e *stream.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func keyCtx(t *testing.T, s *account.Service, key string) context.Context {
	t.Helper()
	id, err := s.Authenticate(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return account.NewContext(context.Background(), id)
}

func record(usage stream.Usage, status string) *gateway.Record {
	return &gateway.Record{ID: "", Provider: "mock", Model: "default", Usage: usage, Status: status, Started: time.Now()}
}

func TestKeys(t *testing.T) {
	s, _ := newService(t, "sqlite", account.Config{Auth: true, AdminKey: "the-admin-key"})
	ctx := context.Background()
	tm, _ := s.CreateTeam(ctx, "acme", 1)
	key, k, err := s.CreateKey(ctx, tm.ID, "ci", account.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "rk_") || len(key) != 43 || k.Prefix != key[:11] || strings.Contains(string(k.Hash), key) {
		t.Fatalf("key %q record %+v", key, k)
	}
	if id, err := s.Authenticate(ctx, key); err != nil || id.TeamID != tm.ID || id.KeyID != k.ID || id.Admin {
		t.Fatalf("authenticate %+v %v", id, err)
	}
	if id, err := s.Authenticate(ctx, "the-admin-key"); err != nil || !id.Admin {
		t.Fatalf("admin %+v %v", id, err)
	}
	// Same prefix, wrong rest: refused, and the message holds no key.
	forged := key[:11] + strings.Repeat("a", 32)
	if _, err := s.Authenticate(ctx, forged); err == nil || strings.Contains(err.Error(), forged) || strings.Contains(err.Error(), key) {
		t.Fatalf("forged key: %v", err)
	}
	for _, bad := range []string{"", "rk_", "rk_short", "Bearer x", key + "x"} {
		if _, err := s.Authenticate(ctx, bad); codeOf(err) != stream.CodeUnauthorized {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	// Revoking by the whole key, by prefix or by id all work; the key
	// fails at once.
	if _, err := s.RevokeKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, key); codeOf(err) != stream.CodeUnauthorized || !strings.Contains(err.Error(), "revoked") || strings.Contains(err.Error(), key) {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := s.RevokeKey(ctx, "nonsense"); codeOf(err) != stream.CodeInvalidRequest {
		t.Fatalf("revoke nonsense: %v", err)
	}
	if _, err := s.RevokeKey(ctx, "rk_zzzzzzzz"); codeOf(err) != stream.CodeNotFound {
		t.Fatalf("revoke unknown prefix: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	for _, auth := range []bool{false, true} {
		s, _ := newService(t, "sqlite", account.Config{Auth: auth})
		var got account.Identity
		var authErr *stream.Error
		var admitErr error
		h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = account.FromContext(r.Context())
			authErr = account.AuthError(r.Context())
			_, admitErr = s.Admit(r.Context(), &stream.Request{Model: "m"})
		}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer sk-anything")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if auth && (authErr == nil || authErr.Code != stream.CodeUnauthorized || codeOf(admitErr) != stream.CodeUnauthorized) {
			t.Fatalf("auth on: %v %v", authErr, admitErr)
		}
		if !auth && (authErr != nil || !got.Anonymous() || admitErr != nil) {
			t.Fatalf("auth off: %+v %v %v", got, authErr, admitErr)
		}
		if _, err := s.Admit(context.Background(), &stream.Request{Model: "m"}); auth != (codeOf(err) == stream.CodeUnauthorized) {
			t.Fatalf("auth=%v: admit without identity: %v", auth, err)
		}
	}
}

func TestAdmitCreditsAndRecords(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			s, _ := newService(t, kind, account.Config{Auth: true, Prices: gateway.Prices{"mock/default": {InputPerMillion: 1e6, OutputPerMillion: 2e6}, "mock/free": {}}})
			ctx := context.Background()
			tm, _ := s.CreateTeam(ctx, "acme", 2)
			key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
			// Each request authenticates afresh, as through the middleware.
			admit := func() (gateway.Admission, error) {
				return s.Admit(keyCtx(t, s, key), &stream.Request{Model: "mock/default"})
			}

			// Two calls hold both credits; a third is refused before upstream.
			a1, err := admit()
			if err != nil {
				t.Fatal(err)
			}
			a2, err := admit()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := admit(); codeOf(err) != stream.CodeInsufficientCredit {
				t.Fatalf("third: %v", err)
			}
			// A failed call releases, a good one deducts; cost from prices.
			a1.Done(record(stream.Usage{PromptTokens: 3, CompletionTokens: 1}, "error"))
			a2.Done(record(stream.Usage{PromptTokens: 2, CompletionTokens: 5}, "ok"))
			a2.Done(record(stream.Usage{PromptTokens: 2, CompletionTokens: 5}, "ok")) // at most once
			tm, _ = s.Team(ctx, tm.ID)
			if tm.Credits != 1 || tm.Reserved != 0 || tm.Spent != 3+2+2+10 {
				t.Fatalf("team %+v", tm)
			}
			rows, _ := s.Usage(ctx, account.UsageFilter{TeamID: tm.ID})
			if len(rows) != 1 || rows[0].Calls != 2 || rows[0].Errors != 1 || rows[0].Cost.Total != 17 {
				t.Fatalf("usage %+v", rows)
			}
			// Budget: a call is admitted only if its worst case (every
			// input byte a token plus 512, and max_tokens of output) fits
			// beside the spend and the calls in flight.
			budgeted := func(model string, maxTokens int) (gateway.Admission, error) {
				return s.Admit(keyCtx(t, s, key), &stream.Request{Model: model, Sampling: stream.Sampling{MaxTokens: maxTokens}})
			}
			if _, err := s.SetTeamLimits(ctx, tm.ID, account.Limits{}, 17+514); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddCredits(ctx, tm.ID, 10); err != nil {
				t.Fatal(err)
			}
			a3, err := budgeted("mock/default", 1) // worst 512×1 + 1×2
			if err != nil || len(a3.Warnings()) != 0 {
				t.Fatalf("within budget: %v %v", a3, err)
			}
			if _, err := budgeted("mock/default", 1); codeOf(err) != stream.CodeInsufficientCredit || !strings.Contains(err.Error(), "worst-case cost of 514") {
				t.Fatalf("a second call beside the first's worst case: %v", err)
			}
			a3.Done(record(stream.Usage{PromptTokens: 3}, "ok"))
			if tm, _ = s.Team(ctx, tm.ID); tm.Spent != 20 || tm.BudgetReserved != 0 {
				t.Fatalf("after settling to the exact cost: %+v", tm)
			}
			// At 80% a warning; a spent budget refuses even free calls.
			if _, err := s.SetTeamLimits(ctx, tm.ID, account.Limits{}, 24); err != nil {
				t.Fatal(err)
			}
			a4, err := budgeted("mock/free", 0)
			if err != nil || len(a4.Warnings()) != 1 || !strings.Contains(a4.Warnings()[0], "budget") {
				t.Fatalf("warning: %v %v", a4, err)
			}
			a4.Done(record(stream.Usage{PromptTokens: 3}, "ok"))
			if _, err := s.SetTeamLimits(ctx, tm.ID, account.Limits{}, 20); err != nil {
				t.Fatal(err)
			}
			if _, err := budgeted("mock/free", 0); codeOf(err) != stream.CodeInsufficientCredit || !strings.Contains(err.Error(), "budget of 20 is spent") {
				t.Fatalf("over budget: %v", err)
			}
		})
	}
}

func TestRateLimits(t *testing.T) {
	s, clk := newService(t, "sqlite", account.Config{Auth: true})
	ctx := context.Background()
	tm, _ := s.CreateTeam(ctx, "acme", 1000)
	key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{RPM: 5})
	if _, err := s.SetTeamLimits(ctx, tm.ID, account.Limits{TPM: 100}, 0); err != nil {
		t.Fatal(err)
	}
	kctx := keyCtx(t, s, key)
	admit := func() (gateway.Admission, error) { return s.Admit(kctx, &stream.Request{Model: "m"}) }
	for i := 1; i <= 5; i++ {
		a, err := admit()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// 4 of 5 is 80%: warned from the fourth request on.
		if w := a.Warnings(); (i >= 4) != (len(w) == 1) || (i >= 4 && w[0] != "key has used "+string(rune('0'+i))+" of its 5 requests per minute") {
			t.Fatalf("call %d warnings %q", i, w)
		}
		a.Done(record(stream.Usage{PromptTokens: 10, CompletionTokens: 5}, "ok"))
	}
	_, err := admit()
	var e *stream.Error
	if !errors.As(err, &e) || e.Code != stream.CodeRateLimited || e.RetryAfter < time.Second || e.RetryAfter > 2*time.Minute {
		t.Fatalf("sixth: %v", err)
	}
	// The window slides: after two minutes everything is forgotten.
	clk.Add(2 * time.Minute)
	a, err := admit()
	if err != nil || len(a.Warnings()) != 0 {
		t.Fatalf("after the window: %v %v", a, err)
	}
	// Tokens per minute on the team: 75 tokens used, then a call of 30
	// pushes it past 100 and the next is refused.
	a.Done(record(stream.Usage{PromptTokens: 90, CompletionTokens: 10}, "ok"))
	_, err = admit()
	if !errors.As(err, &e) || e.Code != stream.CodeRateLimited || !strings.Contains(e.Message, "tokens per minute") {
		t.Fatalf("tpm: %v", err)
	}
}

func TestSweepAbandonedJobs(t *testing.T) {
	s, clk := newService(t, "sqlite", account.Config{AbandonAfter: 10 * time.Minute})
	ctx := context.Background()
	tm, _ := s.CreateTeam(ctx, "acme", 2)
	id := account.Identity{}
	j1, err := s.CreateJob(ctx, id, tm.ID, "chat")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(6 * time.Minute)
	j2, _ := s.CreateJob(ctx, id, tm.ID, "chat")
	if _, err := s.CreateJob(ctx, id, tm.ID, "chat"); codeOf(err) != stream.CodeInsufficientCredit {
		t.Fatalf("third job: %v", err)
	}
	clk.Add(6 * time.Minute)
	if n, err := s.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("sweep %d %v", n, err)
	}
	if j, _ := s.Job(ctx, id, j1.ID); j.Status != account.JobExpired || j.Charged != 0 {
		t.Fatalf("abandoned %+v", j)
	}
	if j, _ := s.Job(ctx, id, j2.ID); j.Status != account.JobPending {
		t.Fatalf("recent %+v", j)
	}
	if got, _ := s.Team(ctx, tm.ID); got.Credits != 2 || got.Reserved != 1 {
		t.Fatalf("team %+v", got)
	}
	// Completing an expired job charges nothing and says it is expired.
	if j, _, err := s.CompleteJob(ctx, id, j1.ID, account.JobCompleted); err != nil || j.Status != account.JobExpired {
		t.Fatalf("complete expired %+v %v", j, err)
	}
}

func TestChargeByCost(t *testing.T) {
	s, _ := newService(t, "sqlite", account.Config{Charge: account.ChargeByCost, CreditsPerUnit: 100})
	ctx := context.Background()
	tm, _ := s.CreateTeam(ctx, "acme", 50)
	j, _ := s.CreateJob(ctx, account.Identity{}, tm.ID, "chat")
	a, err := s.Admit(account.WithJob(ctx, j), &stream.Request{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(stream.Usage{PromptTokens: 1}, "ok")
	rec.Cost = gateway.Cost{Input: 0.1, Output: 0.2, Total: 0.3}
	a.Done(rec)
	j, got, err := s.CompleteJob(ctx, account.Identity{}, j.ID, account.JobCompleted)
	if err != nil || j.Charged != 30 || got.Credits != 20 {
		t.Fatalf("cost charge %+v %+v %v", j, got, err)
	}
}

func TestIDs(t *testing.T) {
	for id, ok := range map[string]bool{
		"job_abcdefghijklmnop": true, "job_abcdefghijklmno": false, "job_ABCDEFGHIJKLMNOP": false,
		"team_abcdefghijklmnop": false, "job_abcdefghijklmno1": false, "job_abcdefghijklmn'p": false,
	} {
		if account.ValidID("job", id) != ok {
			t.Errorf("ValidID(job, %q) != %v", id, ok)
		}
	}
}

func TestReadyAndEnv(t *testing.T) {
	s, _ := newService(t, "sqlite", account.Config{})
	if err := s.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{"1": true, "true": true, "0": false, "": false, "no": false} {
		t.Setenv("RUNNEL_AUTH", v)
		if account.EnvAuth() != want {
			t.Errorf("RUNNEL_AUTH=%q: %v", v, !want)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("RUNNEL_AUTH", "1")
	t.Setenv("RUNNEL_ADMIN_KEY", "adm")
	t.Setenv("RUNNEL_CHARGE", "cost")
	t.Setenv("RUNNEL_JOB_TIMEOUT", "90s")
	t.Setenv("RUNNEL_KEY_RPM", "60")
	t.Setenv("RUNNEL_RESERVATION_LEASE", "2s")
	t.Setenv("RUNNEL_BUDGET_MAX_TOKENS", "512")
	c, err := account.ConfigFromEnv()
	if err != nil || !c.Auth || c.AdminKey != "adm" || c.Charge != account.ChargeByCost || c.AbandonAfter != 90*time.Second || c.DefaultKeyLimits.RPM != 60 ||
		c.Lease != 2*time.Second || c.BudgetMaxTokens != 512 {
		t.Fatalf("%+v %v", c, err)
	}
	t.Setenv("RUNNEL_CHARGE", "free")
	t.Setenv("RUNNEL_JOB_TIMEOUT", "soon")
	t.Setenv("RUNNEL_RESERVATION_LEASE", "1ms")
	if _, err := account.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "RUNNEL_CHARGE") || !strings.Contains(err.Error(), "RUNNEL_JOB_TIMEOUT") ||
		!strings.Contains(err.Error(), "RUNNEL_RESERVATION_LEASE") {
		t.Fatalf("bad env: %v", err)
	}
}

// A call admitted by a process that died is recorded by another through
// Record, once: again, or by its own admission later, charges nothing.
func TestRecordOrphanedCall(t *testing.T) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) {
			s, _ := newService(t, kind, account.Config{Auth: true, Prices: gateway.Prices{"mock/default": {InputPerMillion: 1e6, OutputPerMillion: 2e6}}})
			ctx := context.Background()
			tm, _ := s.CreateTeam(ctx, "acme", 3)
			key, _, _ := s.CreateKey(ctx, tm.ID, "", account.Limits{})
			kctx := keyCtx(t, s, key)
			req := &stream.Request{Model: "mock/default"}
			a, err := s.Admit(kctx, req) // the dead process's admission
			if err != nil {
				t.Fatal(err)
			}
			rec := record(stream.Usage{PromptTokens: 3, CompletionTokens: 2, Estimated: true}, "error")
			rec.ID, rec.Request = "call_orphan", req
			for range 2 {
				if err := s.Record(kctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			a.Done(rec) // had it not been dead after all
			tm, _ = s.Team(ctx, tm.ID)
			// An error is not charged credits; its cost is spent once. The
			// reservation is the dead process's lease's to release.
			if tm.Credits != 3 || tm.Spent != 3+4 {
				t.Fatalf("team %+v", tm)
			}
			rows, _ := s.Usage(ctx, account.UsageFilter{TeamID: tm.ID})
			if len(rows) != 1 || rows[0].Calls != 1 || rows[0].Errors != 1 {
				t.Fatalf("usage %+v", rows)
			}
			ok := record(stream.Usage{PromptTokens: 1, CompletionTokens: 1}, "ok")
			ok.ID, ok.Request = "call_orphan_ok", req
			if err := s.Record(kctx, ok); err != nil {
				t.Fatal(err)
			}
			if tm, _ = s.Team(ctx, tm.ID); tm.Credits != 2 {
				t.Fatalf("an orphaned call that ended well: credits %d, want 2", tm.Credits)
			}
		})
	}
}
