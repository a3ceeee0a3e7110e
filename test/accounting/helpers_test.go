package accounting_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/test/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

const adminKey = "adm-test-secret"

// client has room for a thousand concurrent streams to three replicas.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 400}, Timeout: 2 * time.Minute}

func start(t *testing.T, o cluster.Options) *cluster.Cluster {
	t.Helper()
	o.Args = append(o.Args, "--auth")
	o.Env = append(o.Env, "RUNNEL_ADMIN_KEY="+adminKey)
	return cluster.Start(t, o)
}

// call sends body to base+path with key and returns the status and body.
func call(base, method, path, key, body string) (int, string, error) {
	code, _, b, err := callH(base, method, path, key, body)
	return code, b, err
}

// callH is call, with the response's header.
func callH(base, method, path, key, body string) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

func mustJSON(t *testing.T, base, method, path, key, body string, want int) map[string]any {
	t.Helper()
	code, b, err := call(base, method, path, key, body)
	if err != nil || code != want {
		t.Fatalf("%s %s = %d %s %v, want %d", method, path, code, b, err, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
	return m
}

type team struct {
	ID             string  `json:"id"`
	Credits        int64   `json:"credits"`
	Reserved       int64   `json:"credits_reserved"`
	Spent          float64 `json:"spent"`
	BudgetReserved float64 `json:"budget_reserved"`
}

func newTeam(t *testing.T, base, name string, credits int64, budget float64) (team, []string) {
	t.Helper()
	m := mustJSON(t, base, "POST", "/admin/teams", adminKey, fmt.Sprintf(`{"name":%q,"credits":%d,"max_budget":%g}`, name, credits, budget), http.StatusCreated)
	id := m["id"].(string)
	var keys []string
	for i := range 4 {
		k := mustJSON(t, base, "POST", "/admin/keys", adminKey, fmt.Sprintf(`{"team_id":%q,"name":"k%d"}`, id, i), http.StatusCreated)
		keys = append(keys, k["key"].(string))
	}
	return getTeam(t, base, id), keys
}

func getTeam(t *testing.T, base, id string) team {
	t.Helper()
	code, b, err := call(base, "GET", "/admin/teams/"+id, adminKey, "")
	var tm team
	if err != nil || code != 200 || json.Unmarshal([]byte(b), &tm) != nil {
		t.Fatalf("GET team: %d %s %v", code, b, err)
	}
	return tm
}

type record struct {
	ID      string `json:"call_id"`
	Status  string `json:"status"`
	Credits int64  `json:"credits"`
	JobID   string `json:"job_id"`
	Output  string `json:"output"`
}

func records(t *testing.T, base, teamID string) []record {
	t.Helper()
	code, b, err := call(base, "GET", "/admin/calls?limit=1000&team_id="+teamID, adminKey, "")
	var out struct{ Calls []record }
	if err != nil || code != 200 || json.Unmarshal([]byte(b), &out) != nil {
		t.Fatalf("GET calls: %d %.300s %v", code, b, err)
	}
	return out.Calls
}

// stream reads an OpenAI chat stream; done is whether it ended with
// [DONE] and no error, id the call id its chunks carry, and first is
// closed (when not nil) at its first content chunk.
func stream(base, path, key, body string, first chan<- struct{}) (status int, id string, done bool, err error) {
	status, _, id, done, err = streamH(base, path, key, body, first)
	return status, id, done, err
}

// streamH is stream, with the response's header when it is not a 200.
func streamH(base, path, key, body string, first chan<- struct{}) (status int, h http.Header, id string, done bool, err error) {
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header, "", false, nil
	}
	status, id, done, err = readStream(resp.Body, first)
	return status, nil, id, done, err
}

// readStream reads an OpenAI chat stream's body (see stream).
func readStream(body io.Reader, first chan<- struct{}) (status int, id string, done bool, err error) {
	sc := bufio.NewScanner(body)
	var once sync.Once
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			return 200, id, true, nil
		}
		var chunk struct {
			ID    string `json:"id"`
			Error any    `json:"error"`
		}
		if json.Unmarshal([]byte(line), &chunk) != nil || chunk.Error != nil {
			return 200, id, false, fmt.Errorf("bad chunk %s", line)
		}
		id = strings.TrimPrefix(chunk.ID, "chatcmpl-")
		if first != nil {
			once.Do(func() { first <- struct{}{} })
		}
	}
	return 200, id, false, sc.Err()
}

// retryAgain says whether a spend's request that got status and header h
// is sent again: a 503 with Retry-After (the accounting store did not
// answer within a call's bound, as on a loaded machine), after waiting
// as it says, as real clients do; at most maxRetries times a request.
// retries counts them.
func retryAgain(status int, h http.Header, tries *int, retries *atomic.Int64) bool {
	const maxRetries = 10
	if status != http.StatusServiceUnavailable || *tries >= maxRetries {
		return false
	}
	secs, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || secs <= 0 {
		return false
	}
	*tries++
	retries.Add(1)
	time.Sleep(time.Duration(secs) * time.Second)
	return true
}
