package server_test

// End-to-end cancellation: a real HTTP server (server.New with the OpenAI
// dialect), the real gateway and the real OpenAI upstream provider, against
// a fake OpenAI-compatible upstream on loopback that streams until its
// request context is cancelled.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/server/metrics"
	"github.com/runnel/runnel/stream"
)

// safety bounds waits that only a hang would exhaust; no test asserts on
// how fast anything happens.
const safety = 30 * time.Second

// upstream is a fake OpenAI-compatible server whose streams never end on
// their own (up to limit chunks): every request is a producer that writes
// one chunk per step and flushes, counting what it wrote.
type upstream struct {
	*httptest.Server
	limit int64         // chunks per stream before it ends by itself (a test failure)
	itl   time.Duration // pause between chunks; 0 writes as fast as the reader takes them

	produced     atomic.Int64 // chunks written, all streams
	started      chan struct{}
	cancelled    chan struct{} // one value per stream whose r.Context() ended
	reachedLimit atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

func newUpstream(t *testing.T, limit int64, writeBuffer int) *upstream {
	u := &upstream{
		limit:     limit,
		started:   make(chan struct{}, 4096),
		cancelled: make(chan struct{}, 4096),
		conns:     make(map[net.Conn]http.ConnState),
	}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	if writeBuffer > 0 {
		u.Listener = smallBuffers{u.Listener, writeBuffer}
	}
	u.Config.ConnState = func(c net.Conn, s http.ConnState) {
		u.mu.Lock()
		defer u.mu.Unlock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(u.conns, c)
		} else {
			u.conns[c] = s
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

// open is the number of connections to the upstream that are not closed.
func (u *upstream) open() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.conns)
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	u.started <- struct{}{}
	defer func() { u.cancelled <- struct{}{} }()
	for i := int64(0); i < u.limit; i++ {
		_, err := fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-up\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n", i)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			<-r.Context().Done()
			return
		}
		u.produced.Add(1)
		if u.itl > 0 {
			select {
			case <-time.After(u.itl):
			case <-r.Context().Done():
				return
			}
		}
		if r.Context().Err() != nil {
			return
		}
	}
	u.reachedLimit.Store(true)
	<-r.Context().Done()
}

// smallBuffers shrinks the kernel socket buffers of accepted connections,
// so that backpressure reaches the producer after a few KiB instead of the
// megabytes loopback autotuning allows.
type smallBuffers struct {
	net.Listener
	size int
}

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
		tc.SetReadBuffer(l.size)
	}
	return c, err
}

// oneRoute sends every model to the upstream provider.
type oneRoute struct{ p stream.Provider }

func (r oneRoute) Route(model string) (stream.Provider, string, string, error) {
	return r.p, "openai", model, nil
}

func (r oneRoute) Models(context.Context) ([]gateway.ModelInfo, error) { return nil, nil }

type stack struct {
	url     string
	metrics *metrics.Metrics
	close   func()
}

// newStack serves runnel over u. socketBuffer > 0 shrinks the socket
// buffers between runnel and its clients and between runnel and u.
func newStack(t *testing.T, u *upstream, socketBuffer int) *stack {
	t.Helper()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 1024
	if socketBuffer > 0 {
		d := &net.Dialer{Control: nil}
		transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(socketBuffer)
				tc.SetWriteBuffer(socketBuffer)
			}
			return c, err
		}
	}
	provider := openai.NewProvider(openai.Config{BaseURL: u.URL + "/v1", HTTPClient: &http.Client{Transport: transport}})
	m := metrics.New()
	gw := gateway.New(gateway.Options{Router: oneRoute{provider}, Observer: m})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := server.New(server.Options{
		Logger:   log,
		Metrics:  m.Handler(),
		Dialects: []server.Dialect{openai.NewServer(gw, openai.Options{Logger: log})},
	})
	ts := httptest.NewUnstartedServer(h)
	if socketBuffer > 0 {
		ts.Listener = smallBuffers{ts.Listener, socketBuffer}
	}
	ts.Start()
	st := &stack{url: ts.URL, metrics: m, close: func() {
		ts.Close()
		transport.CloseIdleConnections()
	}}
	t.Cleanup(st.close)
	return st
}

const chatBody = `{"model":"m","stream":true,"messages":[{"role":"user","content":"go on forever"}]}`

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(safety):
		t.Fatalf("%s never happened (waited %v)", what, safety)
	}
}

// eventually polls cond until it holds; it fails only if it never does.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v", what, safety)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that disconnects mid-stream cancels the upstream request.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	u := newUpstream(t, 1<<40, 0)
	st := newStack(t, u, 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", st.url+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	br := bufio.NewReader(resp.Body)
	var got []string
	for len(got) < 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (got %q)", err, got)
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"content":"tok`) {
			got = append(got, line)
		}
	}
	for i, line := range got {
		if !strings.Contains(line, fmt.Sprintf(`"content":"tok%d "`, i)) {
			t.Fatalf("event %d = %q, want tok%d", i, line, i)
		}
	}
	waitFor(t, u.started, "upstream start")
	cancel() // the client goes away mid-stream
	waitFor(t, u.cancelled, "upstream request cancellation after the client disconnected")
	eventually(t, "upstream connection closed", func() bool { return u.open() == 0 })
}

// A client that stops reading stalls the upstream through backpressure;
// when it finally closes, the upstream is cancelled.
func TestStalledClientPausesUpstreamThenCancels(t *testing.T) {
	const limit = 200_000 // ~30 MB of chunks: far more than every buffer on the path
	u := newUpstream(t, limit, 4096)
	st := newStack(t, u, 4096)

	conn, err := net.Dial("tcp", strings.TrimPrefix(st.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: runnel\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(chatBody), chatBody)
	// ...and never read the response.
	waitFor(t, u.started, "upstream start")

	// Wait until the producer stops advancing: every buffer between it and
	// the client is full and its writes block.
	var last int64 = -1
	eventually(t, "upstream paused by backpressure", func() bool {
		if u.reachedLimit.Load() {
			t.Fatalf("the upstream wrote all %d chunks to a client that reads nothing: nothing paused it", limit)
		}
		time.Sleep(200 * time.Millisecond)
		n := u.produced.Load()
		stable := n == last
		last = n
		return stable
	})
	paused := u.produced.Load()
	// Bounded: socket buffers, bufio buffers and the 64-event stream
	// buffer hold a few thousand chunks at most.
	if paused >= limit/10 {
		t.Fatalf("upstream paused only after %d chunks", paused)
	}
	t.Logf("upstream paused after %d chunks", paused)
	select {
	case <-u.cancelled:
		t.Fatal("upstream cancelled while the client was still connected")
	default:
	}

	conn.Close()
	waitFor(t, u.cancelled, "upstream request cancellation after the stalled client closed")
	eventually(t, "upstream connection closed", func() bool { return u.open() == 0 })
}

// 1,000 streams aborted mid-way leave no goroutine and no upstream
// connection behind, and the metrics account for every one.
func TestThousandAbortedStreamsLeaveNothingBehind(t *testing.T) {
	before := goleak.IgnoreCurrent()
	defer func() {
		// Goroutines take a moment to unwind after their connections
		// close; retry for the safety window before calling it a leak.
		var err error
		for deadline := time.Now().Add(safety); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if err = goleak.Find(before); err == nil {
				return
			}
		}
		t.Errorf("goroutines left behind: %v", err)
	}()

	u := newUpstream(t, 1<<40, 0)
	u.itl = time.Millisecond // a fast model's pace, so 32 producers do not saturate 2 cores
	st := newStack(t, u, 0)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: transport}

	t0 := time.Now()
	const streams, parallel = 1000, 32
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
		first  atomic.Value
		sem    = make(chan struct{}, parallel)
	)
	for i := range streams {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := abortMidStream(client, st.url, 1+i%4); err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("streams done after %v", time.Since(t0))
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d streams failed; first: %v", n, streams, first.Load())
	}
	for range streams {
		waitFor(t, u.cancelled, "upstream cancellation of every aborted stream")
	}
	t.Logf("upstreams cancelled after %v", time.Since(t0))
	eventually(t, "every upstream connection closed", func() bool { return u.open() == 0 })
	t.Logf("upstream conns closed after %v", time.Since(t0))

	// A handler records its stream's end just after its upstream saw the
	// cancellation, so the last ones may still be finishing.
	wants := []string{
		`runnel_active_streams{model="m",provider="openai"} 0`,
		fmt.Sprintf(`runnel_requests_total{model="m",provider="openai",status="cancelled"} %d`, streams),
	}
	eventually(t, "metrics accounting for every stream", func() bool {
		m := scrapeMetrics(t, client, st.url)
		for _, want := range wants {
			if !strings.Contains(m, want) {
				return false
			}
		}
		return true
	})
	transport.CloseIdleConnections()
	st.close()
	u.Close()
}

// abortMidStream starts a stream, reads n content events, and disconnects.
func abortMidStream(client *http.Client, url string, n int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for seen := 0; seen < n; {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"content":"tok`) {
			seen++
		}
	}
	return nil // cancel and Close disconnect mid-stream
}

func scrapeMetrics(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
