package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
	"github.com/runnel/runnel/account/store/storetest"
	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/openai"
)

const adminKey = "admin-secret-for-tests"

type env struct {
	t    *testing.T
	url  string
	acct *account.Service
	logs *bytes.Buffer
}

func newEnv(t *testing.T, kind string, cfg account.Config) *env {
	st := storetest.Open(t, kind)
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	acct := account.New(st, cfg)
	t.Cleanup(func() { acct.Close() })
	gw := newGateway(acct)
	mux := http.NewServeMux()
	api.NewJobs(acct, gw, api.Options{DefaultModel: "mock/default"}).Register(mux)
	api.NewAdmin(acct).Register(mux)
	openai.NewServer(gw, openai.Options{Logger: cfg.Logger}).Register(mux)
	anthropic.NewServer(gw, anthropic.Options{Authorize: func(ctx context.Context) error {
		if e := account.AuthError(ctx); e != nil {
			return e
		}
		return nil
	}}).Register(mux)
	srv := httptest.NewServer(acct.Middleware(mux))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, acct: acct, logs: logs}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	return m
}

func (e *env) do(method, path, key, body string) resp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) must(want int, method, path, key, body string) map[string]any {
	e.t.Helper()
	r := e.do(method, path, key, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r.json(e.t)
}

// team creates a team and a key through the admin API.
func (e *env) team(name string, credits int) (teamID, key string) {
	e.t.Helper()
	tm := e.must(201, "POST", "/admin/teams", adminKey, fmt.Sprintf(`{"name":%q,"credits":%d}`, name, credits))
	k := e.must(201, "POST", "/admin/keys", adminKey, fmt.Sprintf(`{"team_id":%q}`, tm["id"]))
	return tm["id"].(string), k["key"].(string)
}

// sse returns the joined delta content of an OpenAI chat stream and
// whether it ended with [DONE].
func sse(t *testing.T, body []byte) (string, bool) {
	t.Helper()
	var text strings.Builder
	done := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			done = true
			continue
		}
		var chunk struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error any `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &chunk); err != nil {
			t.Fatalf("chunk %q: %v", line, err)
		}
		if chunk.Error != nil {
			t.Fatalf("error chunk %s", line)
		}
		if chunk.Object != "chat.completion.chunk" {
			t.Fatalf("object %q", chunk.Object)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	return text.String(), done
}

func each(t *testing.T, f func(t *testing.T, kind string)) {
	for _, kind := range storetest.Backends {
		t.Run(kind, func(t *testing.T) { f(t, kind) })
	}
}

func TestJobFlow(t *testing.T) {
	each(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, account.Config{Auth: true, AdminKey: adminKey})
		team, key := e.team("acme", 3)

		job := e.must(200, "POST", "/api/jobs/create", key, `{"team_id":"`+team+`","job_type":"chat"}`)
		jobID := job["job_id"].(string)
		if job["status"] != "pending" || job["credits_reserved"] != 1.0 || job["team_id"] != team {
			t.Fatalf("job %v", job)
		}
		r := e.do("POST", "/api/jobs/"+jobID+"/llm-call-stream", key,
			`{"model":"mock/default?text=hello%20world","messages":[{"role":"user","content":"Tell me a story"}]}`)
		if r.status != 200 || r.header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %v %s", r.status, r.header, r.body)
		}
		if text, done := sse(t, r.body); text != "hello world" || !done {
			t.Fatalf("stream text %q done %v", text, done)
		}
		// Not streamed, default model.
		one := e.must(200, "POST", "/api/jobs/"+jobID+"/llm-call", key, `{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}`)
		msg := one["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
		if msg["content"] != "Runnel streams every" {
			t.Fatalf("llm-call %v", one)
		}
		if tm, _ := e.acct.Store().Team(context.Background(), team); tm.Credits != 3 || tm.Reserved != 1 {
			t.Fatalf("team before completion %+v", tm)
		}
		got := e.must(200, "GET", "/api/jobs/"+jobID, key, "")
		calls := got["calls"].([]any)
		if got["status"] != "in_progress" || got["call_count"] != 2.0 || len(calls) != 2 {
			t.Fatalf("job %v", got)
		}
		c0 := calls[0].(map[string]any)
		if c0["output"] != "hello world" || c0["status"] != "ok" || c0["provider"] != "mock" ||
			c0["usage"].(map[string]any)["output_tokens"] != 2.0 || c0["usage"].(map[string]any)["input_tokens"] != 4.0 {
			t.Fatalf("call record %v", c0)
		}
		u := got["usage"].(map[string]any)
		if u["output_tokens"] != 5.0 || u["input_tokens"] != 5.0 || u["total_tokens"] != 10.0 {
			t.Fatalf("job usage %v", u)
		}

		done := e.must(200, "POST", "/api/jobs/"+jobID+"/complete", key, `{"status":"completed"}`)
		costs := done["costs"].(map[string]any)
		if done["status"] != "completed" || costs["credits_remaining"] != 2.0 || costs["credits_charged"] != 1.0 || costs["total_tokens"] != 10.0 {
			t.Fatalf("complete %v", done)
		}
		// Idempotent: the same answer, no second charge.
		again := e.must(200, "POST", "/api/jobs/"+jobID+"/complete", key, `{"status":"completed"}`)
		if again["costs"].(map[string]any)["credits_remaining"] != 2.0 || again["status"] != "completed" {
			t.Fatalf("complete twice %v", again)
		}
		e.must(200, "POST", "/api/jobs/"+jobID+"/complete", key, `{"status":"failed"}`)
		if tm, _ := e.acct.Store().Team(context.Background(), team); tm.Credits != 2 || tm.Reserved != 0 {
			t.Fatalf("team after completion %+v", tm)
		}
		// A call on a completed job is a conflict, in OpenAI's error shape.
		r = e.do("POST", "/api/jobs/"+jobID+"/llm-call-stream", key, `{"messages":[{"role":"user","content":"x"}]}`)
		if er := r.json(t)["error"].(map[string]any); r.status != 409 || er["code"] != "conflict" {
			t.Fatalf("call on completed job: %d %s", r.status, r.body)
		}
		// A failed job is not charged.
		j2 := e.must(200, "POST", "/api/jobs/create", key, `{"job_type":"chat"}`)["job_id"].(string)
		r = e.do("POST", "/api/jobs/"+j2+"/llm-call-stream", key, `{"model":"mock/default?error_after=2","messages":[{"role":"user","content":"x"}]}`)
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"error"`)) {
			t.Fatalf("failing stream %d %s", r.status, r.body)
		}
		f := e.must(200, "POST", "/api/jobs/"+j2+"/complete", key, `{"status":"failed"}`)
		if f["costs"].(map[string]any)["credits_remaining"] != 2.0 || f["credits_charged"] != 0.0 {
			t.Fatalf("failed job %v", f)
		}
		calls = e.must(200, "GET", "/api/jobs/"+j2, key, "")["calls"].([]any)
		if c := calls[0].(map[string]any); c["status"] != "error" || c["error"].(map[string]any)["code"] != "upstream_error" || c["output"] == "" {
			t.Fatalf("failed call record %v", c)
		}

		// create-and-call-stream: one request, one credit.
		r = e.do("POST", "/api/jobs/create-and-call-stream", key,
			`{"team_id":"`+team+`","job_type":"chat","model":"mock/default?text=one%20shot","messages":[{"role":"user","content":"hi"}]}`)
		if text, done := sse(t, r.body); r.status != 200 || text != "one shot" || !done {
			t.Fatalf("create-and-call-stream %d %q", r.status, r.body)
		}
		if tm, _ := e.acct.Store().Team(context.Background(), team); tm.Credits != 1 || tm.Reserved != 0 {
			t.Fatalf("team after create-and-call-stream %+v", tm)
		}
		// A failing create-and-call-stream charges nothing.
		r = e.do("POST", "/api/jobs/create-and-call-stream", key, `{"model":"mock/default?status=503","messages":[{"role":"user","content":"hi"}]}`)
		if r.status != 502 {
			t.Fatalf("upstream failure: %d %s", r.status, r.body)
		}
		if tm, _ := e.acct.Store().Team(context.Background(), team); tm.Credits != 1 || tm.Reserved != 0 {
			t.Fatalf("team after failed create-and-call-stream %+v", tm)
		}
	})
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, "sqlite", account.Config{Auth: true, AdminKey: adminKey})
	team, key := e.team("acme", 3)
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		param                    string
	}{
		{"bad job id", "GET", "/api/jobs/job_%2e%2e", "", 400, "job_id"},
		{"bad job id chars", "GET", "/api/jobs/job_ABCDEFGHIJKLMNOP", "", 400, "job_id"},
		{"sql in job id", "GET", "/api/jobs/x'%20OR%20'1'='1", "", 400, "job_id"},
		{"unknown job", "GET", "/api/jobs/job_aaaaaaaaaaaaaaaa", "", 404, ""},
		{"bad complete status", "POST", "/api/jobs/job_aaaaaaaaaaaaaaaa/complete", `{"status":"done"}`, 400, "status"},
		{"complete bad id", "POST", "/api/jobs/nope/complete", `{"status":"completed"}`, 400, "job_id"},
		{"bad json", "POST", "/api/jobs/create", `{"team_id":`, 400, ""},
		{"wrong type", "POST", "/api/jobs/create", `{"job_type":5}`, 400, "job_type"},
		{"no messages", "POST", "/api/jobs/create-and-call-stream", `{"model":"mock/default"}`, 400, "messages"},
		{"huge body", "POST", "/api/jobs/create", `{"job_type":"` + strings.Repeat("x", 2<<20) + `"}`, 413, ""},
		// Admin routes, with the admin key.
		{"admin: fractional credits", "POST", "/admin/teams", `{"name":"frac","credits":2.5}`, 400, "credits"},
		{"admin: bad slug", "POST", "/admin/teams", `{"id":"Not A Slug","name":"slug"}`, 400, "id"},
		{"admin: negative key rpm", "POST", "/admin/keys", `{"team_id":"` + team + `","rpm_limit":-1}`, 400, "rpm_limit"},
		{"admin: negative key tpm", "POST", "/admin/keys", `{"team_id":"` + team + `","tpm_limit":-1}`, 400, "tpm_limit"},
		{"admin: negative team tpm", "POST", "/admin/teams/" + team + "/limits", `{"tpm_limit":-1}`, 400, "tpm_limit"},
		{"admin: negative budget", "POST", "/admin/teams/" + team + "/limits", `{"max_budget":-1}`, 400, "max_budget"},
		{"admin: bad limit", "GET", "/admin/calls?limit=abc", "", 400, "limit"},
		{"admin: debit past the balance", "POST", "/admin/teams/" + team + "/credits", `{"amount":-5}`, 409, "amount"},
		// A misspelt field would otherwise create a key without its limit.
		{"admin: unknown key field", "POST", "/admin/keys", `{"team_id":"` + team + `","rpm":5}`, 400, "rpm"},
		{"admin: unknown team field", "POST", "/admin/teams", `{"name":"x","credit":5}`, 400, "credit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			caller := key
			if strings.HasPrefix(c.name, "admin: ") {
				caller = adminKey
			}
			r := e.do(c.method, c.path, caller, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if !bytes.Contains(r.body, []byte(`"error"`)) {
				t.Fatalf("body %s", r.body)
			}
			if c.param != "" {
				if p := r.json(t)["error"].(map[string]any)["param"]; p != c.param {
					t.Fatalf("param %v, want %s: %s", p, c.param, r.body)
				}
			}
		})
	}
}

func TestSecurity(t *testing.T) {
	each(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, account.Config{Auth: true, AdminKey: adminKey})
		teamA, keyA := e.team("a", 5)
		teamB, keyB := e.team("b", 5)
		jobA := e.must(200, "POST", "/api/jobs/create", keyA, `{"job_type":"chat"}`)["job_id"].(string)

		// B can neither read, call in, nor complete A's job: 404 as if it
		// did not exist.
		for _, c := range [][3]string{
			{"GET", "/api/jobs/" + jobA, ""},
			{"POST", "/api/jobs/" + jobA + "/complete", `{"status":"completed"}`},
			{"POST", "/api/jobs/" + jobA + "/llm-call-stream", `{"messages":[{"role":"user","content":"x"}]}`},
			{"POST", "/api/jobs/" + jobA + "/llm-call", `{"messages":[{"role":"user","content":"x"}]}`},
			{"POST", "/api/jobs/create", `{"team_id":"` + teamA + `"}`},
			{"POST", "/api/jobs/create-and-call-stream", `{"team_id":"` + teamA + `","messages":[{"role":"user","content":"x"}]}`},
		} {
			if r := e.do(c[0], c[1], keyB, c[2]); r.status != 404 {
				t.Fatalf("team B %s %s: %d %s", c[0], c[1], r.status, r.body)
			}
		}
		// Nothing of A's moved.
		if tm, _ := e.acct.Store().Team(context.Background(), teamA); tm.Credits != 5 || tm.Reserved != 1 {
			t.Fatalf("team A %+v", tm)
		}
		if tm, _ := e.acct.Store().Team(context.Background(), teamB); tm.Credits != 5 || tm.Reserved != 0 {
			t.Fatalf("team B %+v", tm)
		}
		// A team key is not an admin key.
		if r := e.do("GET", "/admin/teams", keyA, ""); r.status != 403 {
			t.Fatalf("admin with a team key: %d", r.status)
		}
		// Missing and wrong keys: 401 in OpenAI's shape on every API.
		for _, k := range []string{"", "rk_notakeyatallnotakeyatallnotakeyatall00", "sk-other"} {
			for _, p := range []string{"/api/jobs/create", "/v1/chat/completions"} {
				r := e.do("POST", p, k, `{"model":"mock/default","messages":[{"role":"user","content":"x"}]}`)
				if r.status != 401 || r.json(t)["error"].(map[string]any)["type"] != "authentication_error" {
					t.Fatalf("%s with key %q: %d %s", p, k, r.status, r.body)
				}
			}
		}
		// X-API-Key works as well as Bearer.
		req, _ := http.NewRequest("GET", e.url+"/api/jobs/"+jobA, nil)
		req.Header.Set("X-API-Key", keyA)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
			t.Fatalf("X-API-Key: %v %v", res, err)
		}
		// A revoked key fails on the very next request.
		e.must(200, "GET", "/api/jobs/"+jobA, keyA, "")
		e.must(200, "POST", "/admin/keys/revoke", adminKey, `{"key":"`+account.LookupPrefix(keyA)+`"}`)
		r := e.do("GET", "/api/jobs/"+jobA, keyA, "")
		if r.status != 401 || bytes.Contains(r.body, []byte(keyA)) {
			t.Fatalf("revoked key: %d %s", r.status, r.body)
		}
		// Keys never reach logs or error bodies.
		if strings.Contains(e.logs.String(), keyA) || strings.Contains(e.logs.String(), keyB) || strings.Contains(e.logs.String(), adminKey) {
			t.Fatalf("a key is in the logs:\n%s", e.logs.String())
		}
	})
}

func TestInsufficientCredits(t *testing.T) {
	each(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, account.Config{Auth: true, AdminKey: adminKey})
		team, key := e.team("poor", 0)
		for _, c := range [][2]string{
			{"/api/jobs/create", `{}`},
			{"/api/jobs/create-and-call-stream", `{"model":"mock/default","messages":[{"role":"user","content":"x"}]}`},
			{"/v1/chat/completions", `{"model":"mock/default","stream":true,"messages":[{"role":"user","content":"x"}]}`},
		} {
			r := e.do("POST", c[0], key, c[1])
			if r.status != 402 || r.json(t)["error"].(map[string]any)["type"] != "insufficient_quota" {
				t.Fatalf("%s: %d %s", c[0], r.status, r.body)
			}
		}
		// Nothing reached the upstream, so nothing was recorded.
		if rows, _ := e.acct.Store().Usage(context.Background(), account.UsageFilter{TeamID: team}); len(rows) != 0 {
			t.Fatalf("calls recorded: %+v", rows)
		}
		// A plain call outside a job costs one credit when it succeeds.
		e.must(200, "POST", "/admin/teams/"+team+"/credits", adminKey, `{"amount":1}`)
		r := e.do("POST", "/v1/chat/completions", key, `{"model":"mock/default?text=paid","messages":[{"role":"user","content":"x"}]}`)
		if r.status != 200 {
			t.Fatalf("paid call %d %s", r.status, r.body)
		}
		if tm, _ := e.acct.Store().Team(context.Background(), team); tm.Credits != 0 || tm.Reserved != 0 {
			t.Fatalf("team %+v", tm)
		}
	})
}

// concurrently sends n copies of a POST at once and returns the count of
// each status; check sees each 200 body.
func (e *env) concurrently(n int, path, key, body string, check func([]byte)) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				e.t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && check != nil {
				check(b)
			}
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return statuses
}

// TestConcurrentCreateAndCall: more create-and-call-streams at once than
// the team has credits; exactly that many stream, the rest get 402.
func TestConcurrentCreateAndCall(t *testing.T) {
	each(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, account.Config{Auth: true, AdminKey: adminKey})
		team, key := e.team("busy", 15)
		const n = 40
		statuses := e.concurrently(n, "/api/jobs/create-and-call-stream", key,
			`{"model":"mock/default?text=a%20b%20c","messages":[{"role":"user","content":"x"}]}`, func(b []byte) {
				if text, done := sse(t, b); text != "a b c" || !done {
					t.Errorf("stream %q", b)
				}
			})
		if statuses[200] != 15 || statuses[402] != n-15 {
			t.Fatalf("statuses %v", statuses)
		}
		tm, _ := e.acct.Store().Team(context.Background(), team)
		if tm.Credits != 0 || tm.Reserved != 0 {
			t.Fatalf("team %+v", tm)
		}
		rows, _ := e.acct.Store().Usage(context.Background(), account.UsageFilter{TeamID: team})
		if len(rows) != 1 || rows[0].Calls != 15 || rows[0].Usage.OutputTokens != 45 {
			t.Fatalf("usage %+v", rows)
		}
	})
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, "sqlite", account.Config{Auth: true, AdminKey: adminKey})
	tm := e.must(201, "POST", "/admin/teams", adminKey, `{"name":"limited","credits":100}`)
	k := e.must(201, "POST", "/admin/keys", adminKey, `{"team_id":"`+tm["id"].(string)+`","rpm_limit":2}`)
	key := k["key"].(string)
	body := `{"model":"mock/default","messages":[{"role":"user","content":"x"}]}`
	for i := 0; i < 2; i++ {
		if r := e.do("POST", "/v1/chat/completions", key, body); r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.do("POST", "/v1/chat/completions", key, body)
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.json(t)["error"].(map[string]any)["type"] != "rate_limit_error" {
		t.Fatalf("third call: %d %v %s", r.status, r.header, r.body)
	}
	// Jobs count against the same limit.
	if r := e.do("POST", "/api/jobs/create-and-call-stream", key, body); r.status != 429 {
		t.Fatalf("job call: %d %s", r.status, r.body)
	}
}

// count_tokens is limited by requests per minute as calls are, on a
// counter of its own: refused with a 429 in Anthropic's shape, naming the
// limit, with Retry-After, while the key's calls go on; free and not
// recorded. Without auth, anyone counts without limit.
func TestCountTokensRateLimit(t *testing.T) {
	e := newEnv(t, "sqlite", account.Config{Auth: true, AdminKey: adminKey})
	tm := e.must(201, "POST", "/admin/teams", adminKey, `{"name":"limited","credits":100}`)
	k := e.must(201, "POST", "/admin/keys", adminKey, `{"team_id":"`+tm["id"].(string)+`","rpm_limit":2}`)
	key := k["key"].(string)
	count := `{"model":"mock/default","messages":[{"role":"user","content":"x"}]}`
	for i := 0; i < 2; i++ {
		if r := e.do("POST", "/v1/messages/count_tokens", key, count); r.status != 200 || string(r.body) != `{"input_tokens":1}` {
			t.Fatalf("count %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.do("POST", "/v1/messages/count_tokens", key, count)
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.HasPrefix(string(r.body),
		`{"type":"error","error":{"type":"rate_limit_error","message":"key token-counting rate limit of 2 requests per minute reached; retry in `) {
		t.Fatalf("third count: %d %v %s", r.status, r.header, r.body)
	}
	for i := 0; i < 2; i++ {
		e.must(200, "POST", "/v1/chat/completions", key, count)
	}
	if got, _ := e.acct.Team(context.Background(), tm["id"].(string)); got.Credits != 98 {
		t.Fatalf("credits %d, want 98: the 2 calls alone", got.Credits)
	}
	if rows, _ := e.acct.Store().Usage(context.Background(), account.UsageFilter{}); len(rows) != 1 || rows[0].Calls != 2 {
		t.Fatalf("usage %+v, want the 2 calls alone", rows)
	}
	if r := e.do("POST", "/v1/messages/count_tokens", "", count); r.status != 401 {
		t.Fatalf("count without a key: %d %s", r.status, r.body)
	}

	off := newEnv(t, "sqlite", account.Config{})
	for i := 0; i < 5; i++ {
		off.must(200, "POST", "/v1/messages/count_tokens", "", count)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t, "sqlite", account.Config{Auth: true, AdminKey: adminKey})
	team, key := e.team("acme", 7)
	if r := e.do("GET", "/admin/teams", "", ""); r.status != 401 {
		t.Fatalf("no key: %d", r.status)
	}
	ts := e.must(200, "GET", "/admin/teams", adminKey, "")["teams"].([]any)
	if len(ts) != 1 || ts[0].(map[string]any)["credits"] != 7.0 {
		t.Fatalf("teams %v", ts)
	}
	if r := e.do("POST", "/admin/teams", adminKey, `{"name":"acme"}`); r.status != 409 {
		t.Fatalf("duplicate team: %d", r.status)
	}
	c := e.must(200, "POST", "/admin/teams/"+team+"/credits", adminKey, `{"amount":5}`)
	if c["credits"] != 12.0 {
		t.Fatalf("credits %v", c)
	}
	if r := e.do("POST", "/admin/teams/"+team+"/credits", adminKey, `{"amount":-13}`); r.status != 409 {
		t.Fatalf("below zero: %d %s", r.status, r.body)
	}
	l := e.must(200, "POST", "/admin/teams/"+team+"/limits", adminKey, `{"rpm_limit":10,"tpm_limit":1000,"max_budget":2.5}`)
	if l["rpm_limit"] != 10.0 || l["max_budget"] != 2.5 {
		t.Fatalf("limits %v", l)
	}
	ks := e.must(200, "GET", "/admin/keys?team_id="+team, adminKey, "")["keys"].([]any)
	if len(ks) != 1 || ks[0].(map[string]any)["key"] != nil || ks[0].(map[string]any)["prefix"] != account.LookupPrefix(key) {
		t.Fatalf("keys %v", ks)
	}
	e.must(200, "POST", "/v1/chat/completions", key, `{"model":"mock/default?text=x%20y","messages":[{"role":"user","content":"hello"}]}`)
	u := e.must(200, "GET", "/admin/usage?team_id="+team+"&from=1h", adminKey, "")["usage"].([]any)
	if len(u) != 1 || u[0].(map[string]any)["calls"] != 1.0 || u[0].(map[string]any)["usage"].(map[string]any)["output_tokens"] != 2.0 {
		t.Fatalf("usage %v", u)
	}
	if r := e.do("GET", "/admin/usage?from=yesterday", adminKey, ""); r.status != 400 {
		t.Fatalf("bad from: %d", r.status)
	}
	if r := e.do("GET", "/admin/teams/team_zzzzzzzzzzzzzzzz", adminKey, ""); r.status != 404 {
		t.Fatalf("missing team: %d", r.status)
	}
}

func TestAuthOff(t *testing.T) {
	e := newEnv(t, "sqlite", account.Config{})
	team, _ := e.team("local", 1)
	// Any key or none: anonymous, acting for the team named in the body.
	job := e.must(200, "POST", "/api/jobs/create", "sk-whatever", `{"team_id":"`+team+`"}`)["job_id"].(string)
	r := e.do("POST", "/api/jobs/"+job+"/llm-call-stream", "", `{"model":"mock/default?text=ok","messages":[{"role":"user","content":"x"}]}`)
	if text, _ := sse(t, r.body); text != "ok" {
		t.Fatalf("stream %s", r.body)
	}
	if r := e.do("POST", "/api/jobs/create", "", `{}`); r.status != 400 {
		t.Fatalf("no team: %d %s", r.status, r.body)
	}
	// Plain calls without a team are admitted and recorded.
	e.must(200, "POST", "/v1/chat/completions", "", `{"model":"mock/default","messages":[{"role":"user","content":"x"}]}`)
	rows, _ := e.acct.Store().Usage(context.Background(), account.UsageFilter{})
	if len(rows) != 2 {
		t.Fatalf("usage %+v", rows)
	}
}

// TestConcurrentPlainCalls: calls outside jobs reserve their credit in the
// store before anything goes upstream, so more concurrent calls than
// credits are served exactly as many as there are credits, each paid.
func TestConcurrentPlainCalls(t *testing.T) {
	each(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, account.Config{Auth: true, AdminKey: adminKey})
		team, key := e.team("plain", 12)
		const n = 40
		statuses := e.concurrently(n, "/v1/chat/completions", key,
			`{"model":"mock/default?text=a%20b","stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
		tm, _ := e.acct.Store().Team(context.Background(), team)
		rows, _ := e.acct.Store().Usage(context.Background(), account.UsageFilter{TeamID: team})
		ok := int64(statuses[200])
		if ok != 12 || statuses[402] != n-int(ok) || tm.Credits != 12-ok || tm.Reserved != 0 || len(rows) != 1 || rows[0].Calls != ok {
			t.Fatalf("statuses %v, team %+v, usage %+v", statuses, tm, rows)
		}
	})
}

// TestDisconnectRecorded: a client that goes away mid-stream leaves a
// record with the partial output and status "cancelled", and its job call
// charges nothing until the job is completed.
func TestDisconnectRecorded(t *testing.T) {
	e := newEnv(t, "sqlite", account.Config{Auth: true, AdminKey: adminKey})
	team, key := e.team("gone", 1)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"mock/default?tokens=200&itl=20ms","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	chunks := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"content"`) {
			if chunks++; chunks == 3 {
				break
			}
		}
	}
	cancel()
	res.Body.Close()
	// The record lands once the server notices; poll the store, not a clock.
	// Its guard only ends a test that would hang: 5 s was a bound a
	// loaded machine's store writes could outlast.
	var rows []account.UsageRow
	for guard := time.Now().Add(time.Minute); time.Now().Before(guard); time.Sleep(10 * time.Millisecond) {
		rows, _ = e.acct.Store().Usage(context.Background(), account.UsageFilter{TeamID: team})
		if len(rows) == 1 {
			break
		}
	}
	if len(rows) != 1 || rows[0].Errors != 1 {
		t.Fatalf("usage %+v", rows)
	}
	calls := e.must(200, "GET", "/admin/calls?team_id="+team, adminKey, "")["calls"].([]any)
	if len(calls) != 1 || calls[0].(map[string]any)["request"].(map[string]any)["model"] != "mock/default?tokens=200&itl=20ms" {
		t.Fatalf("calls %v", calls)
	}
	c, err := e.acct.Store().Call(context.Background(), calls[0].(map[string]any)["call_id"].(string))
	if err != nil || c.Status != "cancelled" || c.Output == "" || c.Usage.OutputTokens == 0 || c.Usage.OutputTokens >= 200 {
		t.Fatalf("record %+v %v", c, err)
	}
	// A cancelled call is not charged.
	if tm, _ := e.acct.Store().Team(context.Background(), team); tm.Credits != 1 {
		t.Fatalf("team %+v", tm)
	}
}

// Seed 004 names its team "acme-corp": a team created with that id through
// the admin API takes jobs with team_id "acme-corp", on both stores. A
// balance that would overflow is a 400 naming the amount.
func TestTeamSlug(t *testing.T) {
	each(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, account.Config{Auth: true, AdminKey: adminKey})
		tm := e.must(201, "POST", "/admin/teams", adminKey, `{"id":"acme-corp","name":"Acme","credits":3}`)
		if tm["id"] != "acme-corp" {
			t.Fatalf("team %v", tm)
		}
		k := e.must(201, "POST", "/admin/keys", adminKey, `{"team_id":"acme-corp"}`)["key"].(string)
		job := e.must(200, "POST", "/api/jobs/create", k, `{"team_id":"acme-corp","job_type":"chat"}`)
		id := job["job_id"].(string)
		r := e.do("POST", "/api/jobs/"+id+"/llm-call-stream", k, `{"messages":[{"role":"user","content":"Tell me a story"}]}`)
		if text, done := sse(t, r.body); r.status != 200 || text == "" || !done {
			t.Fatalf("call: %d %q", r.status, r.body)
		}
		c := e.must(200, "POST", "/api/jobs/"+id+"/complete", k, `{"status":"completed"}`)
		if c["costs"].(map[string]any)["credits_remaining"] != 2.0 {
			t.Fatalf("complete %v", c)
		}
		for body, want := range map[string]int{
			`{"id":"acme-corp","name":"Other"}`: 409, // taken
			`{"id":"Acme Corp","name":"x"}`:     400,
			`{"id":"team_x","name":"x"}`:        400,
			`{"id":"-a","name":"x"}`:            400,
		} {
			if r := e.do("POST", "/admin/teams", adminKey, body); r.status != want || !strings.Contains(string(r.body), `"error"`) {
				t.Errorf("%s: %d %s, want %d", body, r.status, r.body, want)
			}
		}
		r = e.do("POST", "/admin/teams/acme-corp/credits", adminKey, `{"amount":9223372036854775807}`)
		if r.status != 400 || !strings.Contains(string(r.body), "amount") {
			t.Fatalf("overflowing credits: %d %s", r.status, r.body)
		}
		if b := e.must(200, "GET", "/admin/teams/acme-corp", adminKey, ""); b["credits"] != 2.0 {
			t.Fatalf("balance changed: %v", b)
		}
	})
}

// create-and-call-stream names its job in the Runnel-Job-Id header, and the
// job is settled before "data: [DONE]" is written: a client that reads
// the balance as soon as it sees [DONE] finds the credit deducted and
// nothing reserved, every time (seed 004 read it 2–9 ms too early).
func TestCreateAndCallSettledBeforeDone(t *testing.T) {
	each(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, account.Config{Auth: true, AdminKey: adminKey})
		team, key := e.team("acme", 10)
		for i := range 10 {
			req, _ := http.NewRequest("POST", e.url+"/api/jobs/create-and-call-stream",
				strings.NewReader(`{"job_type":"chat","model":"mock/default?text=a%20b","messages":[{"role":"user","content":"x"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			jobID := res.Header.Get(api.JobIDHeader)
			if res.StatusCode != 200 || !account.ValidID("job", jobID) {
				t.Fatalf("status %d, job id %q", res.StatusCode, jobID)
			}
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() && sc.Text() != "data: [DONE]" {
			}
			// [DONE] has been read; the response may still be open.
			tm := e.must(200, "GET", "/admin/teams/"+team, adminKey, "")
			job := e.must(200, "GET", "/api/jobs/"+jobID, key, "")
			res.Body.Close()
			if tm["credits"] != float64(9-i) || tm["credits_reserved"] != 0.0 || job["status"] != "completed" {
				t.Fatalf("trial %d: team %v, job %v", i, tm, job)
			}
		}
	})
}
