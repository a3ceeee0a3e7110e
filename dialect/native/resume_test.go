package native

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

const mockModel = "mock/default?tokens=40&itl=2ms"

// tokenText joins the token stream's text and counts its final events.
func tokenText(t *testing.T, evs []sse.Event) (string, int) {
	t.Helper()
	var sb strings.Builder
	finals := 0
	for _, ev := range evs {
		if ev.Data == "[DONE]" { // the GET stream's last line
			continue
		}
		var tok Token
		if err := json.Unmarshal([]byte(ev.Data), &tok); err != nil {
			t.Fatalf("event %q: %v", ev.Data, err)
		}
		sb.WriteString(tok.Token)
		if tok.Done {
			finals++
		}
	}
	return sb.String(), finals
}

// wholeText is the text of an uninterrupted, non-resumable run.
func wholeText(t *testing.T, ts string) string {
	resp := post(t, ts+"/api/v1/inference/stream", `{"model":"`+mockModel+`","prompt":"hi"}`)
	text, finals := tokenText(t, dialecttest.ReadEvents(t, resp.Body))
	if finals != 1 || len(text) < 100 {
		t.Fatalf("uninterrupted run: %q, %d finals", text, finals)
	}
	return text
}

func get(t *testing.T, u, lastID string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	return req
}

func checkResumed(t *testing.T, r dialecttest.Resumption, want string) {
	t.Helper()
	all := append(append([]sse.Event(nil), r.First...), r.Second...)
	dialecttest.CheckIDs(t, all) // no event lost or repeated
	text, finals := tokenText(t, all)
	if text != want {
		t.Errorf("resumed text\n%q\nwant\n%q", text, want)
	}
	if finals != 1 || len(r.Second) == 0 {
		t.Errorf("%d final events, %d after the reconnect", finals, len(r.Second))
	}
}

func TestResumeGet(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	ts := newTestServer(t, gw, Options{})
	want := wholeText(t, ts.URL)
	u := ts.URL + "/api/v1/inference/stream?" + url.Values{"model": {mockModel}, "prompt": {"hi"}}.Encode()
	r := dialecttest.CutAndResume(t, get(t, u, ""), 5, func(last string) *http.Request { return get(t, u, last) })
	checkResumed(t, r, want)

	// Caught up with a finished stream: 204, which stops EventSource.
	all := append(r.First, r.Second...)
	resp, err := http.DefaultClient.Do(get(t, u, all[len(all)-1].ID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("reconnect after the end: %d, want 204", resp.StatusCode)
	}
	// The query parameter works as the header does.
	resp, err = http.DefaultClient.Do(get(t, u+"&last_event_id="+url.QueryEscape(r.First[4].ID), ""))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := tokenText(t, dialecttest.ReadEvents(t, resp.Body))
	resp.Body.Close()
	if first, _ := tokenText(t, r.First); first+text != want {
		t.Errorf("resumed with last_event_id: %q", text)
	}
}

func TestResumePost(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	ts := newTestServer(t, gw, Options{})
	want := wholeText(t, ts.URL)
	u := ts.URL + "/api/v1/inference/stream"
	body := `{"model":"` + mockModel + `","prompt":"hi"}`
	// The reconnect's body is ignored: garbage does no harm.
	r := dialecttest.CutAndResume(t, dialecttest.ResumablePost(t, u, body, ""), 3, func(last string) *http.Request {
		return dialecttest.ResumablePost(t, u, "not json", last)
	})
	checkResumed(t, r, want)
	if n := len(gw.Requests()); n != 2 {
		t.Errorf("%d calls, want 2 (one uninterrupted, one resumed)", n)
	}
}

func TestResumeGenerateStream(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	ts := newTestServer(t, gw, Options{})
	u := ts.URL + "/api/v1/generate/stream"
	body := `{"model_name":"` + mockModel + `","input":[{"type":"text","content":"hi"}]}`
	content := func(evs []sse.Event) (string, int) {
		var sb strings.Builder
		finals := 0
		for _, ev := range evs {
			var it struct {
				Content string
				Final   bool
			}
			json.Unmarshal([]byte(ev.Data), &it)
			sb.WriteString(it.Content)
			if it.Final {
				finals++
			}
		}
		return sb.String(), finals
	}
	want, _ := content(dialecttest.ReadEvents(t, post(t, u, body).Body))
	r := dialecttest.CutAndResume(t, dialecttest.ResumablePost(t, u, body, ""), 4, func(last string) *http.Request {
		return dialecttest.ResumablePost(t, u, "", last)
	})
	all := append(r.First, r.Second...)
	dialecttest.CheckIDs(t, all)
	if got, finals := content(all); got != want || finals != 1 {
		t.Errorf("resumed %q (%d finals), want %q", got, finals, want)
	}
	// A generate stream does not resume on the token stream's endpoint.
	resp, err := http.DefaultClient.Do(dialecttest.ResumablePost(t, ts.URL+"/api/v1/inference/stream", "", all[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("resume on another endpoint: %d", resp.StatusCode)
	}
}

// TestResumeGraceCancels: a client that does not come back within the
// grace period has its generation cancelled, and can no longer resume.
func TestResumeGraceCancels(t *testing.T) {
	p := dialecttest.Watch(dialecttest.NewBlocking(stream.Delta("a"), stream.Delta("b")))
	gw := &dialecttest.Gateway{Provider: p}
	ts := newTestServer(t, gw, Options{Resume: dialect.NewResumer(resume.Options{Grace: time.Millisecond}, nil)})
	u := ts.URL + "/api/v1/inference/stream?model=m&prompt=hi"
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	rd := sse.NewReader(resp.Body)
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	dialecttest.Wait(t, p.Cancelled, "the upstream's cancellation after the grace period")
	// The session is gone: 404 in the native error shape, naming it.
	resp, err = http.DefaultClient.Do(get(t, u, rd.LastID()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er ErrorResponse
	json.NewDecoder(resp.Body).Decode(&er)
	id, _, _ := strings.Cut(rd.LastID(), "-")
	if resp.StatusCode != 404 || er.Error.Code != "not_found" || !strings.Contains(er.Error.Message, id) {
		t.Errorf("resume after the grace period: %d %+v", resp.StatusCode, er)
	}
	// The call is closed once its producer sees the cancellation, which
	// may be just after the upstream saw it.
	for deadline := time.Now().Add(time.Minute); gw.Closed() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // a deadlock guard
			t.Fatalf("%d calls closed, want 1", gw.Closed())
		}
	}
}

// TestNotResumableCancelsAtOnce: without the opt-in header a disconnect
// still cancels the upstream, however long the grace period.
func TestNotResumableCancelsAtOnce(t *testing.T) {
	p := dialecttest.Watch(dialecttest.NewBlocking(stream.Delta("a")))
	gw := &dialecttest.Gateway{Provider: p}
	ts := newTestServer(t, gw, Options{Resume: dialect.NewResumer(resume.Options{Grace: time.Hour}, nil)})
	for _, path := range []string{"/api/v1/inference/stream", "/api/v1/generate/stream"} {
		resp := post(t, ts.URL+path, `{"model":"m","model_name":"m","prompt":"hi","input":[{"type":"text","content":"x"}]}`)
		rd := sse.NewReader(resp.Body)
		ev, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != "1" {
			t.Errorf("%s: id %q, want a plain number", path, ev.ID)
		}
		resp.Body.Close()
		dialecttest.Wait(t, p.Cancelled, path+": the upstream's cancellation")
	}
}

type ownerKey struct{}

// TestResumeOwner: only the caller that started a stream can resume it.
func TestResumeOwner(t *testing.T) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	owner := func(ctx context.Context) string { s, _ := ctx.Value(ownerKey{}).(string); return s }
	srv := NewServer(gw, Options{Identity: owner})
	ts := dialecttest.Serve(t, func(mux *http.ServeMux) {
		inner := http.NewServeMux()
		srv.Register(inner)
		mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ownerKey{}, r.Header.Get("X-Team"))))
		}))
	})
	u := ts.URL + "/api/v1/inference/stream"
	as := func(team, last string) *http.Request {
		req := dialecttest.ResumablePost(t, u, `{"model":"`+mockModel+`","prompt":"hi"}`, last)
		req.Header.Set("X-Team", team)
		return req
	}
	var stolen int
	r := dialecttest.CutAndResume(t, as("a", ""), 2, func(last string) *http.Request {
		resp, err := http.DefaultClient.Do(as("b", last))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		stolen = resp.StatusCode
		return as("a", last)
	})
	if stolen != 404 {
		t.Errorf("another team's resume: %d, want 404", stolen)
	}
	if _, finals := tokenText(t, r.Second); finals != 1 {
		t.Errorf("the owner's resume did not reach the end")
	}
}

func TestResumeBadID(t *testing.T) {
	ts := newTestServer(t, &dialecttest.Gateway{Events: script}, Options{})
	for id, status := range map[string]int{
		"17":                                    400,
		"rs_0123456789abcdef0123456789abcdef-3": 404,
	} {
		resp, err := http.DefaultClient.Do(dialecttest.ResumablePost(t, ts.URL+"/api/v1/inference/stream", "", id))
		if err != nil {
			t.Fatal(err)
		}
		var er ErrorResponse
		json.NewDecoder(resp.Body).Decode(&er)
		resp.Body.Close()
		if resp.StatusCode != status || er.Error.Message == "" {
			t.Errorf("Last-Event-ID %q: %d %+v, want %d", id, resp.StatusCode, er, status)
		}
	}
}
