package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/sse"
)

// TestServeResumeOwner: with auth on, a resumable stream resumes for the
// key that started it and is a 404 for another team's key; the call is
// recorded once, with its whole output.
func TestServeResumeOwner(t *testing.T) {
	const admin = "admin-secret-key-0123456789"
	ts := serveTest(t, accountOptions{auth: true, adminKey: admin}, nil)
	a, b := teamKey(t, ts, admin, "a"), teamKey(t, ts, admin, "b")
	const text = "One two three four five six seven eight nine ten."
	url := ts.URL + "/v1/chat/completions"
	body := `{"model":"mock/default?itl=2ms&text=` + strings.ReplaceAll(text, " ", "%20") + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	as := func(k, last string) *http.Request {
		req := dialecttest.ResumablePost(t, url, body, last)
		req.Header.Set("Authorization", "Bearer "+k)
		return req
	}
	var stolen int
	r := dialecttest.CutAndResume(t, as(a, ""), 3, func(last string) *http.Request {
		stolen, _ = doReq(t, as(b, last))
		return as(a, last)
	})
	if stolen != 404 {
		t.Errorf("another team's key resumed: %d, want 404", stolen)
	}
	var got strings.Builder
	evs := append(r.First, r.Second...)
	for _, ev := range evs[:len(evs)-1] {
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		json.Unmarshal([]byte(ev.Data), &c)
		for _, ch := range c.Choices {
			got.WriteString(ch.Delta.Content)
		}
	}
	if got.String() != text || evs[len(evs)-1].Data != "[DONE]" {
		t.Errorf("resumed text %q, last event %q", got.String(), evs[len(evs)-1].Data)
	}
	dialecttest.CheckIDs(t, evs)

	// The producer records the call when it closes it, just after [DONE].
	var calls struct {
		Calls []struct{ Output, Status string }
	}
	deadline := time.Now().Add(time.Minute) // deadlock guard
	for len(calls.Calls) == 0 && time.Now().Before(deadline) {
		_, body := do(t, "GET", ts.URL+"/admin/calls", admin, "")
		json.Unmarshal([]byte(body), &calls)
	}
	if len(calls.Calls) != 1 || calls.Calls[0].Output != text {
		t.Errorf("recorded calls: %+v, want one with the whole text", calls.Calls)
	}
}

// teamKey creates team name through /admin and returns a key of it.
func teamKey(t *testing.T, ts *httptest.Server, admin, name string) string {
	t.Helper()
	status, body := do(t, "POST", ts.URL+"/admin/teams", admin, `{"name":"`+name+`","credits":100}`)
	var team struct{ ID string }
	if json.Unmarshal([]byte(body), &team); status != 200 && status != 201 || team.ID == "" {
		t.Fatalf("create team: %d %s", status, body)
	}
	status, body = do(t, "POST", ts.URL+"/admin/keys", admin, `{"team_id":"`+team.ID+`"}`)
	var k struct{ Key string }
	if json.Unmarshal([]byte(body), &k); status != 200 && status != 201 || k.Key == "" {
		t.Fatalf("create key: %d %s", status, body)
	}
	return k.Key
}

// TestServeCancelOwner: with auth on, DELETE /api/v1/streams/{id} is a 404
// for another team's key and leaves the stream resumable; without a key it
// is a 401; the owner's key, or a stream token of it, cancels the call at
// once (the grace period is an hour, and the mock hangs until cancelled).
func TestServeCancelOwner(t *testing.T) {
	const admin = "admin-secret-key-0123456789"
	ts := serveTest(t, accountOptions{auth: true, adminKey: admin}, map[string]string{"RUNNEL_RESUME_GRACE": "1h"})
	a, b := teamKey(t, ts, admin, "a"), teamKey(t, ts, admin, "b")
	url := ts.URL + "/v1/chat/completions"
	body := `{"model":"mock/default?hang_after=6","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	as := func(k, last string) *http.Request {
		req := dialecttest.ResumablePost(t, url, body, last)
		req.Header.Set("Authorization", "Bearer "+k)
		return req
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// read sends req and reads n events, then drops the connection.
	read := func(req *http.Request, n int) (id, last string) {
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		rd := sse.NewReader(resp.Body)
		for range n {
			if _, err := rd.Next(); err != nil {
				t.Fatal(err)
			}
		}
		return resp.Header.Get("Runnel-Stream-Id"), rd.LastID()
	}
	id, last := read(as(a, ""), 2)
	path := ts.URL + "/api/v1/streams/" + id

	if status, body := do(t, "DELETE", path, b, ""); status != 404 {
		t.Errorf("another team's DELETE: %d %s, want 404", status, body)
	}
	if status, body := do(t, "DELETE", path, "", ""); status != 401 {
		t.Errorf("DELETE without a key: %d %s, want 401", status, body)
	}
	_, last = read(as(a, last), 1) // still resumable: nothing cancelled it

	status, body := do(t, "POST", ts.URL+"/api/v1/stream-tokens", a, "")
	var tok struct{ Token string }
	if json.Unmarshal([]byte(body), &tok); status != 200 || tok.Token == "" {
		t.Fatalf("stream token: %d %s", status, body)
	}
	if status, body := do(t, "DELETE", path+"?token=bad", "", ""); status != 401 {
		t.Errorf("DELETE with a bad token: %d %s, want 401", status, body)
	}
	if status, body := do(t, "DELETE", path+"?token="+tok.Token, "", ""); status != 204 {
		t.Fatalf("owner's DELETE with a stream token: %d %s, want 204", status, body)
	}
	if status, _ := doReq(t, as(a, last)); status != 404 {
		t.Errorf("reconnect after the cancel: %d, want 404", status)
	}
	// The call ends now, not in an hour: it is recorded as cancelled.
	var calls struct {
		Calls []struct{ Status string }
	}
	deadline := time.Now().Add(time.Minute) // deadlock guard
	for len(calls.Calls) == 0 && time.Now().Before(deadline) {
		_, body := do(t, "GET", ts.URL+"/admin/calls", admin, "")
		json.Unmarshal([]byte(body), &calls)
	}
	if len(calls.Calls) != 1 || calls.Calls[0].Status != "cancelled" {
		t.Errorf("recorded calls: %+v, want one cancelled", calls.Calls)
	}
}

func doReq(t *testing.T, req *http.Request) (int, []sse.Event) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, dialecttest.ReadEvents(t, resp.Body)
}
