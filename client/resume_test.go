package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/resume"
)

type connKey struct{}

// cutter closes the connection of the request it is told to cut once n
// bytes of the response were written: a network failure mid-stream.
type cutter struct {
	http.ResponseWriter
	conn    net.Conn
	n, sent int
}

func (c *cutter) Write(p []byte) (int, error) {
	if c.sent+len(p) >= c.n {
		c.ResponseWriter.Write(p[:c.n-c.sent])
		http.NewResponseController(c.ResponseWriter).Flush()
		c.conn.Close()
		return 0, net.ErrClosed
	}
	c.sent += len(p)
	return c.ResponseWriter.Write(p)
}

func (c *cutter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// cuttingServer serves the OpenAI and native dialects over a mock
// provider, cutting the connection of every request that opts in to
// resumption (but not the reconnects, unless cutResumes) after cut bytes.
// It records the requests' Last-Event-IDs.
func cuttingServer(t *testing.T, cut int, cutResumes bool) (*httptest.Server, func() []string) {
	gw := &dialecttest.Gateway{Provider: mock.New(mock.Options{})}
	mux := http.NewServeMux()
	openai.NewServer(gw, openai.Options{}).Register(mux)
	native.NewServer(gw, native.Options{}).Register(mux)
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := r.Header.Get("Last-Event-ID")
		mu.Lock()
		lastIDs = append(lastIDs, last)
		mu.Unlock()
		if r.Header.Get("Runnel-Resumable") == "true" && (last == "" || cutResumes) {
			w = &cutter{ResponseWriter: w, conn: r.Context().Value(connKey{}).(net.Conn), n: cut}
		}
		mux.ServeHTTP(w, r)
	}))
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), lastIDs...) }
}

func TestResumeAfterCut(t *testing.T) {
	srv, lastIDs := cuttingServer(t, 1500, false)
	ctx := context.Background()
	req := ChatRequest{Model: "mock/default?tokens=60&itl=1ms", Messages: []Message{{Role: "user", Content: "hi"}}}
	want, err := New(srv.URL).StreamChat(ctx, req).Text()
	if err != nil || len(want) < 200 {
		t.Fatalf("uncut run: %q, %v", want, err)
	}

	s := New(srv.URL, WithResume(2)).StreamChat(ctx, req)
	got, err := s.Text()
	if err != nil || got != want {
		t.Fatalf("resumed run: %v\n%q\nwant\n%q", err, got, want)
	}
	if s.Usage() == nil || s.Usage().CompletionTokens != 60 || s.FinishReason() != "length" && s.FinishReason() != "stop" {
		t.Errorf("usage %+v, finish %q", s.Usage(), s.FinishReason())
	}
	ids := lastIDs()
	if len(ids) != 3 || ids[0] != "" || ids[1] != "" || ids[2] == "" {
		t.Errorf("Last-Event-IDs of the requests: %q; want the 3rd to resume the 2nd", ids)
	}

	// The native stream resumes the same way.
	p := New(srv.URL, WithResume(1)).StreamPredict(ctx, "mock/default?tokens=60&itl=1ms", req.Messages, nil)
	if got, err := p.Text(); err != nil || got != want {
		t.Errorf("native resumed: %v\n%q", err, got)
	}
}

// TestResumeGivesUp: reconnects are bounded; when they are spent, the cut
// is a connection error.
func TestResumeGivesUp(t *testing.T) {
	srv, lastIDs := cuttingServer(t, 600, true)
	s := New(srv.URL, WithResume(2)).StreamChat(context.Background(),
		ChatRequest{Model: "mock/default?tokens=100&itl=1ms", Messages: []Message{{Role: "user", Content: "hi"}}})
	if _, err := s.Text(); !errors.Is(err, ErrConnection) {
		t.Fatalf("err = %v, want a connection error", err)
	}
	if ids := lastIDs(); len(ids) != 3 || ids[0] != "" || ids[1] == "" || ids[2] == "" {
		t.Errorf("Last-Event-IDs of the requests: %q; want a stream and 2 reconnects", ids)
	}
}

// TestResumeNothingLeft: a reconnect answered 204 (the server has sent
// every event, only the end was lost) ends the stream cleanly instead of
// spending the reconnects.
func TestResumeNothingLeft(t *testing.T) {
	var reconnects int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") != "" {
			reconnects++
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: rs_00000000000000000000000000000001-1\ndata: {\"token\":\"all\",\"done\":false}\n\n")
		// The connection drops before the final event.
	}))
	defer srv.Close()
	s := New(srv.URL, WithResume(3)).StreamPredict(context.Background(), "m", []Message{{Role: "user", Content: "hi"}}, nil)
	got, err := s.Text()
	if err != nil || got != "all" || reconnects != 1 {
		t.Fatalf("text %q, err %v, %d reconnects; want \"all\", no error, 1 reconnect", got, err, reconnects)
	}
}

// cancelServer serves the OpenAI and native dialects over a mock that
// streams until cancelled, resumable streams kept for an hour after a cut:
// only the client's DELETE can end one sooner. It counts the DELETEs. With
// cut > 0 it cuts every resumable stream's connection after cut bytes.
func cancelServer(t *testing.T, cut int) (*httptest.Server, *dialecttest.Watched, *dialect.Resumer, *atomic.Int32) {
	watched := dialecttest.Watch(mock.New(mock.Options{}))
	gw := &dialecttest.Gateway{Provider: watched}
	res := dialect.NewResumer(resume.Options{Grace: time.Hour}, nil)
	mux := http.NewServeMux()
	openai.NewServer(gw, openai.Options{Resume: res}).Register(mux)
	native.NewServer(gw, native.Options{Resume: res}).Register(mux)
	var deletes atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		}
		if cut > 0 && r.Header.Get("Runnel-Resumable") == "true" {
			w = &cutter{ResponseWriter: w, conn: r.Context().Value(connKey{}).(net.Conn), n: cut}
		}
		mux.ServeHTTP(w, r)
	}))
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, watched, res, &deletes
}

// TestResumableStreamAbandoned: breaking out of the loop, or cancelling
// the context, cancels a resumable stream's generation on the server.
func TestResumableStreamAbandoned(t *testing.T) {
	srv, watched, res, deletes := cancelServer(t, 0)
	c := New(srv.URL, WithResume(2))
	msgs := []Message{{Role: "user", Content: "hi"}}
	const model = "mock/default?hang_after=3"

	for ev, err := range c.StreamChat(context.Background(), ChatRequest{Model: model, Messages: msgs}).Events() {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Text != "" {
			break
		}
	}
	dialecttest.Wait(t, watched.Cancelled, "the cancellation of the abandoned chat stream")
	if deletes.Load() != 1 || res.Registry.Len() != 0 {
		t.Fatalf("%d DELETEs, %d streams kept", deletes.Load(), res.Registry.Len())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var last error
	for _, err := range c.StreamPredict(ctx, model, msgs, nil).Events() {
		if last = err; err != nil {
			break
		}
		if n++; n == 2 {
			cancel() // while the mock hangs after its tokens
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("the stream ended with %v, want context.Canceled", last)
	}
	dialecttest.Wait(t, watched.Cancelled, "the cancellation of the native stream whose context was cancelled")
	if deletes.Load() != 2 || res.Registry.Len() != 0 {
		t.Fatalf("%d DELETEs, %d streams kept", deletes.Load(), res.Registry.Len())
	}
}

// TestResumableStreamCutNotCancelled: a network cut is not a stop: the
// client sends no DELETE, and the stream stays resumable on the server.
func TestResumableStreamCutNotCancelled(t *testing.T) {
	srv, _, res, deletes := cancelServer(t, 500)
	s := New(srv.URL, WithResume(1)).StreamChat(context.Background(),
		ChatRequest{Model: "mock/default?tokens=12", Messages: []Message{{Role: "user", Content: "hi"}}})
	if _, err := s.Text(); !errors.Is(err, ErrConnection) {
		t.Fatalf("err = %v, want a connection error", err)
	}
	if deletes.Load() != 0 || res.Registry.Len() != 1 {
		t.Fatalf("%d DELETEs, %d streams kept; want none, and the stream", deletes.Load(), res.Registry.Len())
	}
}
