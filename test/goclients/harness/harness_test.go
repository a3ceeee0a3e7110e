package harness_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/test/goclients/harness"
)

func TestStartServesHealthz(t *testing.T) {
	srv := harness.StartServer(t, nil)
	if !strings.HasPrefix(srv.BaseURL, "http://127.0.0.1:") {
		t.Fatalf("BaseURL = %q, want http://127.0.0.1:PORT", srv.BaseURL)
	}
	resp, err := http.Get(srv.BaseURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("GET /healthz = %d %v, want 200 {status: ok}", resp.StatusCode, body)
	}
	if !strings.Contains(srv.Logs(), "msg=ready") {
		t.Fatalf("logs lack the ready line:\n%s", srv.Logs())
	}
}
