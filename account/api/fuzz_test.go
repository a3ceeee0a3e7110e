package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
	"github.com/runnel/runnel/account/store/storetest"
)

// FuzzJobsAPI: whatever the body or job id, the jobs and admin APIs answer
// a 2xx or a 4xx in OpenAI's error shape, never a 5xx or a panic.
func FuzzJobsAPI(f *testing.F) {
	for _, s := range []struct{ path, body string }{
		{"create", `{"team_id":"team_aaaaaaaaaaaaaaaa","job_type":"chat"}`},
		{"create-and-call-stream", `{"model":"mock/default?tokens=2","messages":[{"role":"user","content":"hi"}]}`},
		{"create-and-call-stream", `{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"temperature":"hot"}`},
		{"job_aaaaaaaaaaaaaaaa/complete", `{"status":"completed"}`},
		{"job_aaaaaaaaaaaaaaaa/llm-call", `{"messages":[]}`},
		{"job_aaaaaaaaaaaaaaaa/llm-call-stream", `{"messages":[{"role":"user","content":"x"}],"stop":["a"],"max_tokens":-1}`},
		{"x%00/complete", `[]`},
		{"admin:teams", `{"name":"a","credits":-1}`},
		{"admin:teams", `{"id":"acme-corp","name":"a"}`},
		{"admin:teams", `{"id":"Acme_Corp!","name":"a"}`},
		{"admin:teams/team_aaaaaaaaaaaaaaaa/credits", `{"amount":9223372036854775807}`},
		{"create", `{"team_id":"acme-corp","job_type":"chat"}`},
		{"admin:keys", `{"team_id":"team_bad"}`},
		{"admin:keys/revoke", `{"key":"rk_"}`},
		{"create", `{"team_id":1e400}`},
		{"create", "\xff\xfe"},
	} {
		f.Add(s.path, s.body)
	}
	st := storetest.Open(f, "sqlite")
	acct := account.New(st, account.Config{})
	f.Cleanup(func() { acct.Close() })
	gw := newGateway(acct)
	mux := http.NewServeMux()
	api.NewJobs(acct, gw, api.Options{DefaultModel: "mock/default?tokens=3"}).Register(mux)
	api.NewAdmin(acct).Register(mux)
	h := acct.Middleware(mux)
	tm, err := acct.CreateTeam(f.Context(), "fuzz", 1<<40)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		body = strings.ReplaceAll(body, "team_aaaaaaaaaaaaaaaa", tm.ID)
		target := "/api/jobs/" + path
		if p, ok := strings.CutPrefix(path, "admin:"); ok {
			target = "/admin/" + p
		}
		u, err := url.Parse(target)
		if err != nil || strings.ContainsAny(target, " \t\r\n#?") {
			return
		}
		for _, method := range []string{"POST", "GET"} {
			req := httptest.NewRequest(method, "/", strings.NewReader(body))
			req.URL = u
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 && rec.Code != 404 && rec.Code != 405 {
				var e struct {
					Error struct {
						Message string `json:"message"`
						Type    string `json:"type"`
					} `json:"error"`
				}
				if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Message == "" || e.Error.Type == "" {
					t.Fatalf("%s %s %q: %d without an error body: %s", method, target, body, rec.Code, rec.Body)
				}
			}
		}
	})
}
