package cluster_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/test/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

func adminPost(t *testing.T, url, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer admin-secret")
	req.Header.Set("Content-Type", "application/json")
	return do(t, req, http.StatusCreated)
}

func adminGet(t *testing.T, url string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer admin-secret")
	return do(t, req, http.StatusOK)
}

func do(t *testing.T, req *http.Request, want int) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", req.Method, req.URL, resp.StatusCode, b, want)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %v in %s", req.Method, req.URL, err, b)
	}
	return m
}

// Two replicas share one PostgreSQL schema: a team made on one is read on
// the other, also after the other was killed and restarted.
func TestReplicasShareThePostgresSchema(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Replicas: 2, Postgres: true, Redis: true,
		Args: []string{"--auth"},
		Env:  []string{"RUNNEL_ADMIN_KEY=admin-secret"},
	})
	if len(c.URLs()) != 2 || c.URLs()[0] == c.URLs()[1] {
		t.Fatalf("URLs = %v, want two different ones", c.URLs())
	}
	if !strings.Contains(c.DatabaseURL, "search_path=runnel_cluster_") || !strings.HasPrefix(c.RedisPrefix, "runnel-test-") {
		t.Fatalf("DatabaseURL %q, RedisPrefix %q: want a fresh schema and prefix", c.DatabaseURL, c.RedisPrefix)
	}
	if a, b := c.Next(), c.Next(); a != c.URLs()[0] || b != c.URLs()[1] || c.Next() != a {
		t.Fatalf("Next is not round-robin over %v", c.URLs())
	}
	team := adminPost(t, c.Replicas[0].BaseURL+"/admin/teams", `{"name":"shared","credits":7}`)
	id := team["id"].(string)

	r := c.Replicas[1]
	addr := r.Addr
	r.Kill()
	if _, err := http.Get(r.BaseURL + "/healthz"); err == nil {
		t.Fatalf("replica answered after Kill")
	}
	r.Restart(t)
	if r.Addr != addr {
		t.Fatalf("restarted on %s, want the same address %s", r.Addr, addr)
	}
	got := adminGet(t, r.BaseURL+"/admin/teams/"+id)
	if got["name"] != "shared" || got["credits"] != float64(7) {
		t.Fatalf("team on the other replica = %v, want name shared, 7 credits", got)
	}
}

// Term leaves the test to watch the exit; a graceful exit has code 0.
func TestTermExitsCleanly(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	r := c.Replicas[0]
	r.Term()
	code, err := r.Wait(t.Context())
	if err != nil || code != 0 {
		t.Fatalf("after Term: exit code %d, %v; want 0\n%s", code, err, r.Logs())
	}
	if !strings.Contains(r.Logs(), "msg=ready") {
		t.Fatalf("logs lack the ready line:\n%s", r.Logs())
	}
}
