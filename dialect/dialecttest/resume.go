package dialecttest

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

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
