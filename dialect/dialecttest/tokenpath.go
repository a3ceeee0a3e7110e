package dialecttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// TokenPathCase is a dialect's server over its upstream provider, for
// TokenPaths: Provider makes the provider over client (the canned
// upstream), Register mounts the server over the gateway, and Path and
// Body are the client's request.
type TokenPathCase struct {
	Provider   func(client *http.Client) stream.Provider
	Register   func(gw *gateway.Gateway, mux *http.ServeMux)
	Path, Body string
}

// TokenPaths serves c's request over an upstream that answers upstream
// (an SSE body, an event a read) twice: as it is, where the call's plain
// tokens take the token path (stream.TokenStream), and with the
// provider's streams hidden behind a wrapper that has none, so that
// every event takes Recv. t fails unless the two write the same bytes
// (the chunks' created time aside) and the same record.
func TokenPaths(t testing.TB, c TokenPathCase, upstream string) {
	t.Helper()
	body, rec, _ := serveTokens(t, c, upstream, false)
	hidBody, hidRec, used := serveTokens(t, c, upstream, true)
	if used {
		t.Fatal("the hidden provider's stream took the token path")
	}
	if body != hidBody || rec != hidRec {
		t.Fatalf("upstream %q\nwith the token path:\n%s\n%s\nwithout:\n%s\n%s", upstream, body, rec, hidBody, hidRec)
	}
}

// TokenPathUsed reports whether c's request over upstream read a token
// through the provider's token path.
func TokenPathUsed(t testing.TB, c TokenPathCase, upstream string) bool {
	_, _, used := serveTokens(t, c, upstream, false)
	return used
}

// ServeTokens is what c's client gets over upstream, as TokenPaths
// compares it (the chunks' created time aside), the call's record, and
// whether a token took the provider's token path.
func ServeTokens(t testing.TB, c TokenPathCase, upstream string) (body, record string, used bool) {
	return serveTokens(t, c, upstream, false)
}

var created = regexp.MustCompile(`"created":\d+`)

func serveTokens(t testing.TB, c TokenPathCase, upstream string, hide bool) (body, record string, used bool) {
	p := &tokenWatch{Provider: c.Provider(&http.Client{Transport: Canned{Body: []byte(upstream)}}), hide: hide}
	router := gateway.NewStaticRouter()
	router.Register("up", p)
	router.SetDefault("up")
	obs := &lastRecord{}
	gw := gateway.New(gateway.Options{Router: router, Observer: obs, NewID: func() string { return "call_1" }})
	mux := http.NewServeMux()
	c.Register(gw, mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, c.Path, strings.NewReader(c.Body)))
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.rec == nil {
		t.Fatalf("no record; answer %d %s", w.Code, w.Body)
	}
	r := obs.rec
	record = fmt.Sprintf("%q %q %s %s %+v %v %v", r.Output, r.Thinking, r.Finish, r.Status, r.Usage, r.ToolCalls, r.Err)
	return fmt.Sprintf("%d %s", w.Code, created.ReplaceAllString(w.Body.String(), `"created":0`)), record, p.used
}

// tokenWatch is a provider whose streams either note the token path's
// use or hide it.
type tokenWatch struct {
	stream.Provider
	hide bool
	used bool
}

func (p *tokenWatch) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	s, err := p.Provider.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	ts, ok := s.(stream.TokenStream)
	if p.hide || !ok {
		return struct{ stream.Stream }{s}, nil
	}
	return &watchedTokens{TokenStream: ts, used: &p.used}, nil
}

type watchedTokens struct {
	stream.TokenStream
	used *bool
}

func (s *watchedTokens) RecvToken() (string, bool) {
	text, ok := s.TokenStream.RecvToken()
	*s.used = *s.used || ok
	return text, ok
}

// NotifiesBeforeWait forwards to the provider (stream.WaitNotifier), so
// that flushing is the same with the token path and without.
func (p *tokenWatch) NotifiesBeforeWait() bool {
	n, ok := p.Provider.(stream.WaitNotifier)
	return ok && n.NotifiesBeforeWait()
}

type lastRecord struct {
	mu  sync.Mutex
	rec *gateway.Record
}

func (o *lastRecord) CallStarted(provider, model string)                 {}
func (o *lastRecord) FirstToken(provider, model string, d time.Duration) {}
func (o *lastRecord) TokenGap(provider, model string, d time.Duration)   {}
func (o *lastRecord) CallEnded(r *gateway.Record) {
	o.mu.Lock()
	o.rec = r
	o.mu.Unlock()
}

// Canned is an upstream's transport that answers every request with the
// same SSE body, one event (up to its blank line) a read, as tokens that
// arrive apart do: no sockets and no cost of its own. With Lines, one
// line a read: an NDJSON body, as Ollama flushes each token's.
type Canned struct {
	Body  []byte
	Lines bool
}

func (c Canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/event-stream"}},
		Body:    io.NopCloser(&eventReads{c.Body, c.end()}),
		Request: r, ContentLength: -1,
	}, nil
}

// end is what ends a read's piece of the body.
func (c Canned) end() []byte {
	if c.Lines {
		return lineEnd
	}
	return eventEnd
}

// The ends of an SSE event and of a line: variables, not conversions,
// which would be an allocation a call.
var eventEnd, lineEnd = []byte("\n\n"), []byte("\n")

// eventReads returns one SSE event (up to its blank line) a Read, or a
// line: up to end.
type eventReads struct{ rest, end []byte }

func (r *eventReads) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		return 0, io.EOF
	}
	n := bytes.Index(r.rest, r.end) + len(r.end)
	if n < len(r.end) {
		n = len(r.rest)
	}
	n = copy(p, r.rest[:n])
	r.rest = r.rest[n:]
	return n, nil
}
