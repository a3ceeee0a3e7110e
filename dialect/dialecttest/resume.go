package dialecttest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Watched is a provider whose streams report, on Cancelled, that their
// context ended: how tests see a cancellation reach the upstream.
type Watched struct {
	stream.Provider
	Cancelled chan struct{}
}

// Watch wraps p.
func Watch(p stream.Provider) *Watched {
	return &Watched{Provider: p, Cancelled: make(chan struct{}, 16)}
}

// Stream implements stream.Provider.
func (w *Watched) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	context.AfterFunc(ctx, func() { w.Cancelled <- struct{}{} })
	return w.Provider.Stream(ctx, req)
}

// Wait fails the test unless ch receives within a deadlock guard.
func Wait(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// Resumption is one resumable stream read in two parts: the connection is
// cut after some events, and the client reconnects with Last-Event-ID.
type Resumption struct {
	First, Second []sse.Event
	Second204     bool // the reconnect was answered 204
}

// CutAndResume sends first, reads n events, cuts the connection and sends
// again(the last event id), reading that response to its end. Each request
// has a connection of its own.
func CutAndResume(t testing.TB, first *http.Request, n int, again func(lastID string) *http.Request) Resumption {
	t.Helper()
	var res Resumption
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(first)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("first request: %d %s", resp.StatusCode, b)
	}
	rd := sse.NewReader(resp.Body)
	for range n {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("event %d: %v", len(res.First), err)
		}
		res.First = append(res.First, ev)
	}
	resp.Body.Close() // cuts the connection: the body is not read to its end
	resp2, err := c.Do(again(rd.LastID()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode == http.StatusNoContent {
		res.Second204 = true
		return res
	}
	if resp2.StatusCode != 200 {
		b, _ := io.ReadAll(resp2.Body)
		t.Fatalf("reconnect: %d %s", resp2.StatusCode, b)
	}
	res.Second = ReadEvents(t, resp2.Body)
	return res
}

// ReadEvents reads an SSE body to its end.
func ReadEvents(t testing.TB, r io.Reader) []sse.Event {
	t.Helper()
	var out []sse.Event
	rd := sse.NewReader(r)
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, ev)
	}
}

// CheckIDs fails the test unless evs carry the ids "<stream>-1", "-2"…
// of one stream, and returns that stream's id.
func CheckIDs(t testing.TB, evs []sse.Event) string {
	t.Helper()
	var stream string
	for i, ev := range evs {
		j := strings.LastIndexByte(ev.ID, '-')
		if j < 0 || !strings.HasPrefix(ev.ID, "rs_") {
			t.Fatalf("event %d: id %q is not a resumable stream's", i, ev.ID)
		}
		if i == 0 {
			stream = ev.ID[:j]
		}
		if ev.ID != stream+"-"+strconv.Itoa(i+1) {
			t.Fatalf("event %d: id %q, want %s-%d", i, ev.ID, stream, i+1)
		}
	}
	return stream
}

// ResumablePost is a POST of body to url opting in to resumption, with
// Last-Event-ID lastID when not "".
func ResumablePost(t testing.TB, url, body, lastID string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Runnel-Resumable", "true")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	return req
}

// ResumeCase is one endpoint's resumption check (see CheckResume).
type ResumeCase struct {
	URL, Body string // a POST streaming a deterministic mock model
	Cut       int    // events read before the connection is cut
	// Text joins the events' text and counts the stream's terminators.
	Text func(t testing.TB, evs []sse.Event) (text string, ends int)
}

// CheckResume streams c without resumption for the whole text, then
// resumably, cut after c.Cut events and resumed (with a body that is not
// even JSON: it is ignored). The two parts must join into the whole text
// with consecutive ids and one terminator; a reconnect after the end gets
// 204.
func CheckResume(t testing.TB, c ResumeCase) {
	t.Helper()
	whole := Post(t, c.URL, c.Body)
	want, ends := c.Text(t, ReadEvents(t, whole.Body))
	if ends != 1 || want == "" {
		t.Fatalf("uninterrupted run: %q, %d terminators", want, ends)
	}
	r := CutAndResume(t, ResumablePost(t, c.URL, c.Body, ""), c.Cut, func(last string) *http.Request {
		return ResumablePost(t, c.URL, "ignored", last)
	})
	all := append(append([]sse.Event(nil), r.First...), r.Second...)
	CheckIDs(t, all)
	got, ends := c.Text(t, all)
	if got != want || ends != 1 || len(r.Second) == 0 {
		t.Fatalf("resumed (%d+%d events, %d terminators):\n%q\nwant\n%q", len(r.First), len(r.Second), ends, got, want)
	}
	resp, err := http.DefaultClient.Do(ResumablePost(t, c.URL, "", all[len(all)-1].ID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reconnect after the end: %d, want 204", resp.StatusCode)
	}
}

// CheckCancels starts a stream of p at url (resumable or not), reads one
// event, cuts the connection and waits for p's stream to be cancelled: at
// once when not resumable, after the grace period when resumable (the
// server's must be short). It returns the last event id read.
func CheckCancels(t testing.TB, p *Watched, url, body string, resumable bool) string {
	t.Helper()
	req := ResumablePost(t, url, body, "")
	if !resumable {
		req.Header.Del("Runnel-Resumable")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rd := sse.NewReader(resp.Body)
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	Wait(t, p.Cancelled, "the upstream's cancellation")
	return rd.LastID()
}

// CheckResumeCancellation checks that a disconnect cancels the upstream at
// once when the stream is not resumable (however long the grace period),
// and after the grace period when it is, a resume then getting 404 with a
// body that names the stream (notFound checks the dialect's shape). serve
// starts the dialect's server over gw with r; path and body make a POST
// that streams.
func CheckResumeCancellation(t *testing.T, path, body string, serve func(gw *Gateway, r *dialect.Resumer) *httptest.Server, notFound func(body []byte, id string) bool) {
	p := Watch(NewBlocking(stream.Delta("a"), stream.Delta("b")))
	t.Run("not resumable: at once", func(t *testing.T) {
		ts := serve(&Gateway{Provider: p}, dialect.NewResumer(resume.Options{Grace: time.Hour}, nil))
		CheckCancels(t, p, ts.URL+path, body, false)
	})
	t.Run("resumable: after the grace period", func(t *testing.T) {
		ts := serve(&Gateway{Provider: p}, dialect.NewResumer(resume.Options{Grace: time.Millisecond}, nil))
		last := CheckCancels(t, p, ts.URL+path, body, true)
		resp, err := http.DefaultClient.Do(ResumablePost(t, ts.URL+path, body, last))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id, _, _ := resume.ParseID(last)
		if resp.StatusCode != 404 || !notFound(b, id) {
			t.Errorf("resume after the grace period: %d %s", resp.StatusCode, b)
		}
	})
}
