package cluster_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/test/cluster"
)

// refuseRecords makes the cluster's database refuse call records (a
// trigger on its schema's calls table raises), or take them again.
// Everything else (reservations, leases, teams) goes on working.
func refuseRecords(t *testing.T, databaseURL string, refuse bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL) // its search_path is the cluster's schema
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sql := `DROP TRIGGER refuse_records ON calls`
	if refuse {
		sql = `CREATE FUNCTION refuse_records() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'records refused by the test'; END $$;
			CREATE TRIGGER refuse_records BEFORE INSERT ON calls FOR EACH ROW EXECUTE FUNCTION refuse_records()`
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// send makes a request with key as its bearer token and returns the
// status and body.
func send(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// chatCall makes a non-streamed chat call on base and returns its status
// and call id.
func chatCall(t *testing.T, base, key string) (int, string) {
	t.Helper()
	code, b := send(t, "POST", base+"/v1/chat/completions", key, `{"model":"mock/default?tokens=4","messages":[{"role":"user","content":"hi"}]}`)
	var out struct{ ID string }
	json.Unmarshal(b, &out)
	return code, strings.TrimPrefix(out.ID, "chatcmpl-")
}

// pendingMetric is runnel_records_pending on the replica at base.
func pendingMetric(t *testing.T, base string) string {
	t.Helper()
	code, b := send(t, "GET", base+"/metrics", "admin-secret", "")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "runnel_records_pending "); ok {
			return v
		}
	}
	t.Fatalf("no runnel_records_pending in /metrics (%d):\n%.2000s", code, b)
	return ""
}

// waitFor polls cond (every 100 ms) until it holds, failing t after the
// deadlock guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := time.After(deadlock)
	for !cond() {
		select {
		case <-guard:
			t.Fatalf("%s: not within %v (deadlock guard)", what, deadlock)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The database refuses call records for a while. Replicas 0 and 2 serve
// calls meanwhile, keeping their records in Redis (and on their disks),
// and are killed; replica 0's data directory is deleted, as an ephemeral
// disk would be. Their leases run out, but their reservations stay held
// while the records wait (a call on replica 1 finds no free credits).
// Once the database takes records again, replica 1, which never saw the
// calls, stores every one exactly once with its charge: credits debited
// equal calls served. Replica 2 then restarts on its disk and replays its
// local copies, which store and charge nothing again.
func TestRecordsOutliveTheReplica(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Replicas: 3, Postgres: true, Redis: true,
		Args: []string{"--auth"},
		Env:  []string{"RUNNEL_ADMIN_KEY=admin-secret", "RUNNEL_RESERVATION_LEASE=1s"},
	})
	live := c.Replicas[1].BaseURL
	const served = 12
	team := adminPost(t, live+"/admin/teams", `{"name":"payer","credits":12}`)["id"].(string)
	key := adminPost(t, live+"/admin/keys", `{"team_id":"`+team+`"}`)["key"].(string)

	refuseRecords(t, c.DatabaseURL, true)
	ids := map[string]bool{}
	for i := range served {
		r := c.Replicas[2*(i%2)] // 0 and 2
		code, id := chatCall(t, r.BaseURL, key)
		if code != http.StatusOK || id == "" || ids[id] {
			t.Fatalf("call %d on %s: %d, id %q", i, r.Addr, code, id)
		}
		ids[id] = true
	}
	if n := len(calls(t, live, team)); n != 0 {
		t.Fatalf("%d calls recorded while the database refuses them", n)
	}
	for _, r := range []*cluster.Replica{c.Replicas[0], c.Replicas[2]} {
		// Logged before each response ended; read from its stderr since.
		waitFor(t, "replica "+r.Addr+" saying it kept its records in Redis", func() bool {
			return strings.Contains(r.Logs(), "kept in Redis for any replica to store")
		})
		r.Kill()
	}
	if err := os.RemoveAll(c.Replicas[0].DataDir); err != nil {
		t.Fatal(err)
	}

	// Replica 1 finds the dead replicas' leases over and keeps their
	// reservations: the team's credits are all held.
	waitFor(t, "replica 1 keeping the dead replicas' reservations", func() bool {
		return strings.Contains(c.Replicas[1].Logs(), "keeping the reservations of stopped processes that records waiting to be stored")
	})
	if tm := adminGet(t, live+"/admin/teams/"+team); tm["credits"] != float64(served) || tm["credits_reserved"] != float64(served) {
		t.Fatalf("team while its records wait: %v; want %d credits, all reserved", tm, served)
	}
	if code, _ := chatCall(t, live, key); code != http.StatusPaymentRequired {
		t.Fatalf("a call while every credit waits on a pending record: %d, want 402", code)
	}
	if v := pendingMetric(t, live); v != "12" {
		t.Fatalf("runnel_records_pending = %s while the records wait, want 12", v)
	}

	refuseRecords(t, c.DatabaseURL, false)
	waitFor(t, "replica 1 storing the records", func() bool { return len(calls(t, live, team)) == served })
	checkStored := func(when string) {
		t.Helper()
		got := calls(t, live, team)
		var paid int64
		for _, rc := range got {
			if !ids[rc.ID] || rc.Status != "ok" || rc.Credits != 1 {
				t.Fatalf("%s: record %+v; want one of the calls served, ok, 1 credit", when, rc)
			}
			paid += rc.Credits
		}
		tm := adminGet(t, live+"/admin/teams/"+team)
		if len(got) != served || paid != served || tm["credits"] != float64(0) || tm["credits_reserved"] != float64(0) {
			t.Fatalf("%s: %d records, %d credits paid, team %v; want %d each, 0 credits left, none reserved", when, len(got), paid, tm, served)
		}
	}
	checkStored("after the drain")
	if v := pendingMetric(t, live); v != "0" {
		t.Fatalf("runnel_records_pending = %s after the drain, want 0", v)
	}
	opt, _ := redis.ParseURL(c.RedisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if n, err := rdb.HLen(context.Background(), c.RedisPrefix+"rec:pending").Result(); n != 0 || err != nil {
		t.Fatalf("records left in Redis: %d %v", n, err)
	}

	c.Replicas[2].Restart(t)
	if !strings.Contains(c.Replicas[2].Logs(), "stored the records of the local journal") {
		t.Fatalf("replica 2 did not replay its local journal:\n%s", c.Replicas[2].Logs())
	}
	checkStored("after replica 2 replayed its local copies")
}
