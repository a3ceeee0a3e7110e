package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/sse"
)

// A resumable stream of one dialect (OpenAI chat) is cancelled through the
// native DELETE: the provider's context ends at once, though the grace
// period is an hour and the mock would hang until cancelled, and the
// stream can no longer be resumed.
func TestCancelResumableStream(t *testing.T) {
	watched := dialecttest.Watch(mock.New(mock.Options{}))
	gw := &dialecttest.Gateway{Provider: watched}
	const origin = "https://app.example"
	ts := httptest.NewServer(server.New(server.Options{
		CORSOrigins: []string{origin},
		Dialects:    server.Dialects(gw, server.DialectOptions{Resume: resume.Options{Grace: time.Hour}}),
	}))
	defer ts.Close()

	url := ts.URL + "/v1/chat/completions"
	body := `{"model":"mock/default?hang_after=5","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(dialecttest.ResumablePost(t, url, body, ""))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header.Get("Runnel-Stream-Id")
	rd := sse.NewReader(resp.Body)
	for range 3 {
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}
	resp.Body.Close() // the connection drops: the generation runs on, for the grace period

	del := func(path string) (int, string) {
		req, _ := http.NewRequest("DELETE", ts.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := del("/api/v1/streams/" + id); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	dialecttest.Wait(t, watched.Cancelled, "the provider's cancellation")

	if resp, err := c.Do(dialecttest.ResumablePost(t, url, body, rd.LastID())); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("reconnect after the cancel: %d, want 404", resp.StatusCode)
	}
	for _, tc := range []struct {
		id     string
		status int
		code   string
	}{
		{id, http.StatusNotFound, "not_found"}, // cancelled already
		{"rs_00000000000000000000000000000000", http.StatusNotFound, "not_found"},
		{"rs_xyz", http.StatusBadRequest, "invalid_request"},
	} {
		status, body := del("/api/v1/streams/" + tc.id)
		var e struct {
			Error struct{ Code, Message, Param string }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.status ||
			e.Error.Code != tc.code || e.Error.Param != "id" || !strings.Contains(e.Error.Message, tc.id) {
			t.Errorf("DELETE %s: %d %s, want %d with a native %s error naming it", tc.id, status, body, tc.status, tc.code)
		}
	}

	// Pages on allowed origins may send the DELETE.
	req, _ := http.NewRequest("OPTIONS", ts.URL+"/api/v1/streams/"+id, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "DELETE")
	pre, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != http.StatusNoContent || !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "DELETE") ||
		pre.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("preflight: %d, %v", pre.StatusCode, pre.Header)
	}
}
