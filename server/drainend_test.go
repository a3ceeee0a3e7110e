package server_test

// A client's response ends when the answer ends, not when the upstream's
// connection does: an upstream that sends its last event, then holds the
// end of its body (the chunked terminator), no longer holds the client's
// end; its connection is still reused once the end comes.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/gemini"
	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/stream"
)

// heldUpstream is an upstream API: its complete answer, and its provider.
type heldUpstream struct {
	name     string
	answer   string // written and flushed whole; then the end is held
	ctype    string
	provider func(url string, c *http.Client) stream.Provider
}

var heldUpstreams = []heldUpstream{
	{"openai", `data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}` + "\n\n" +
		"data: [DONE]\n\n", "text/event-stream",
		func(url string, c *http.Client) stream.Provider {
			return openai.NewProvider(openai.Config{BaseURL: url + "/v1", HTTPClient: c})
		}},
	{"anthropic", "event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}` + "\n\n" +
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n", "text/event-stream",
		func(url string, c *http.Client) stream.Provider {
			return anthropic.NewProvider(anthropic.Config{BaseURL: url, APIKey: "k", HTTPClient: c})
		}},
	{"ollama", `{"model":"m","message":{"role":"assistant","content":"Hello"},"done":false}` + "\n" +
		`{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":1}` + "\n",
		"application/x-ndjson",
		func(url string, c *http.Client) stream.Provider {
			return ollama.NewProvider(ollama.Config{BaseURL: url, HTTPClient: c})
		}},
	{"gemini", `data: {"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}` + "\n\n",
		"text/event-stream",
		func(url string, c *http.Client) stream.Provider {
			return gemini.NewProvider(gemini.Config{BaseURL: url, APIKey: "k", HTTPClient: c})
		}},
}

// heldClient is a client API of runnel: call makes one streamed call over
// a real connection, reads the whole answer (to the response's end: EOF,
// or the WebSocket's done frame) and returns it.
type heldClient struct {
	name string
	call func(t *testing.T, c *http.Client, url string) string
	end  string // in the answer's last bytes
}

func postAll(t *testing.T, c *http.Client, url, body string, header ...string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body) // to the response's end
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %q: %v", resp.StatusCode, b, err)
	}
	return string(b)
}

const heldChat = `{"model":"m","stream":true,"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`

var heldClients = []heldClient{
	{"openai", func(t *testing.T, c *http.Client, url string) string {
		return postAll(t, c, url+"/v1/chat/completions", heldChat)
	}, "data: [DONE]"},
	{"openai-resumable", func(t *testing.T, c *http.Client, url string) string {
		return postAll(t, c, url+"/v1/chat/completions", heldChat, dialect.ResumableHeader, "true")
	}, "data: [DONE]"},
	{"anthropic", func(t *testing.T, c *http.Client, url string) string {
		return postAll(t, c, url+"/v1/messages", heldChat)
	}, `"type":"message_stop"`},
	{"ollama", func(t *testing.T, c *http.Client, url string) string {
		return postAll(t, c, url+"/api/chat", heldChat)
	}, `"done":true`},
	{"native", func(t *testing.T, c *http.Client, url string) string {
		return postAll(t, c, url+"/api/v1/inference/stream", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	}, `"done":true`},
	{"websocket", func(t *testing.T, c *http.Client, url string) string {
		ctx := context.Background()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws/chat", &websocket.DialOptions{HTTPClient: c})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"chat","id":"a","model":"m","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
			t.Fatal(err)
		}
		var frames []string
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, string(b))
			if strings.HasPrefix(string(b), `{"type":"done"`) || strings.HasPrefix(string(b), `{"type":"error"`) {
				return strings.Join(frames, "\n")
			}
		}
	}, `"type":"done"`},
}

// runnelOverHeld serves every dialect of runnel, at url, over up's API
// served by srv, which holds each answer's end; client calls runnel.
// order watches runnel's responses and its upstream bodies. Everything
// is closed when the test ends.
func runnelOverHeld(t *testing.T, up heldUpstream) (srv *dialecttest.HeldEnd, url string, client *http.Client, order *endOrder) {
	srv = dialecttest.NewHeldEnd(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", up.ctype)
		io.WriteString(w, up.answer)
	}))
	order = newEndOrder()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gw := gateway.New(gateway.Options{Router: oneRoute{up.provider(srv.URL, &http.Client{Transport: order.transport(transport)})}})
	ts := httptest.NewServer(order.handler(server.New(server.Options{Logger: log, Dialects: server.Dialects(gw, server.DialectOptions{Logger: log})})))
	client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ts.Close()
		srv.Close()
		transport.CloseIdleConnections()
	})
	return srv, ts.URL, client, order
}

// endOrder tells, by the order of events rather than by their times,
// whether a response of runnel's waited for an upstream body whose end
// had not come to be closed (cut short, as a drain that gives up after
// DrainWait does): such a close waits until no response is being served,
// and if that does not come (the response waits for the close: a
// deadlock), notes it and closes after all. An upstream whose end is
// held until the client has its answer then has no way to end the
// response but that. A close that finds the responses ended leaves the
// body open, for the drain to read the end that the test sends: however
// late the test's goroutine runs, the drain does not give up first.
type endOrder struct {
	mu      sync.Mutex
	served  sync.Cond
	serving int  // runnel's handlers under way
	waited  bool // a response waited for a cut upstream body's close
}

// cutGuard bounds a close's wait for the responses under way; it is only
// a deadlock guard (the responses it waits for end on their own), and
// the test fails when it expires.
const cutGuard = 10 * time.Second

func newEndOrder() *endOrder {
	o := &endOrder{}
	o.served.L = &o.mu
	return o
}

// Waited reports whether a response waited for a cut upstream body.
func (o *endOrder) Waited() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.waited
}

func (o *endOrder) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.serving++
		o.mu.Unlock()
		defer func() {
			o.mu.Lock()
			o.serving--
			o.served.Broadcast()
			o.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// waitServed waits until no response is under way, or cutGuard passed:
// then it notes and reports that a response waited.
func (o *endOrder) waitServed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	expired := false
	guard := time.AfterFunc(cutGuard, func() {
		o.mu.Lock()
		expired = true
		o.served.Broadcast()
		o.mu.Unlock()
	})
	defer guard.Stop()
	for o.serving > 0 && !expired {
		o.served.Wait()
	}
	o.waited = o.waited || expired
	return expired
}

func (o *endOrder) transport(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil {
			resp.Body = &orderedBody{ReadCloser: resp.Body, o: o}
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// orderedBody is an upstream body whose first close before its end
// waits for the responses under way, and closes it only if one waited
// for it (endOrder).
type orderedBody struct {
	io.ReadCloser
	o       *endOrder
	eof     atomic.Bool
	cutting atomic.Bool
}

func (b *orderedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

func (b *orderedBody) Close() error {
	if b.eof.Load() || b.cutting.Swap(true) || b.o.waitServed() {
		return b.ReadCloser.Close()
	}
	return nil // the drain reads on, to the end, then closes again
}

// For every upstream API whose answer ends with an event (all but
// Gemini's) and every client API: the client has its whole answer and
// its response's end while the upstream still holds the end of its
// body; once that comes the upstream connection goes back to the pool,
// and the next call, whose end comes at once, reuses it. Nothing is left
// running after. The order is checked without times: the upstream's end
// comes only after the client's call returned, and the response did not
// wait for the body to be cut short instead (endOrder), which a drain
// does after DrainWait, however late this goroutine runs.
func TestResponseEndsBeforeUpstreamEnd(t *testing.T) {
	before := goleak.IgnoreCurrent()
	for _, up := range heldUpstreams {
		if up.name == "gemini" {
			continue // TestGeminiAnswerEndsWithItsBody
		}
		for _, cl := range heldClients {
			t.Run(up.name+"/"+cl.name, func(t *testing.T) {
				srv, url, client, order := runnelOverHeld(t, up)
				got := cl.call(t, client, url)
				if !strings.Contains(got, "Hello") || !strings.Contains(got, cl.end) {
					t.Fatalf("answer %q", got)
				}
				if order.Waited() {
					t.Fatal("the client's response waited for the upstream's body to be cut short: it did not end with the answer")
				}
				srv.Release()
				dialect.WaitDrains()

				srv.Release() // the next answer's end comes at once
				if got := cl.call(t, client, url); !strings.Contains(got, cl.end) {
					t.Fatalf("second answer %q", got)
				}
				dialect.WaitDrains()
				if n := srv.Conns(); n != 1 {
					t.Errorf("%d upstream connections for 2 sequential calls, want 1", n)
				}
			})
		}
	}
	if err := findLeaks(before); err != nil {
		t.Error(err)
	}
}

// Sequential calls whose upstream sends its end promptly all go through
// one upstream connection: each answer's end is drained (by the answer's
// reads, or by a drain after its call) and its connection reused.
func TestSequentialCallsReuseOneConnection(t *testing.T) {
	up, cl := heldUpstreams[1], heldClients[2] // Anthropic's, both sides
	srv, url, client, _ := runnelOverHeld(t, up)
	for i := range 50 {
		srv.Release() // the end comes at once
		if got := cl.call(t, client, url); !strings.Contains(got, cl.end) {
			t.Fatalf("call %d: %q", i, got)
		}
		dialect.WaitDrains()
	}
	if n := srv.Conns(); n != 1 {
		t.Errorf("%d upstream connections for 50 sequential calls, want 1", n)
	}
}

// Gemini's stream has no end event: its finish and last usage are known
// only at the body's end, so the client's answer ends with the
// upstream's body, as through a proxy (or DrainWait after the finish
// reason, when the body's end is held: gemini's
// TestHeldBodyEndsAfterItsFinish); the connection is reused.
func TestGeminiAnswerEndsWithItsBody(t *testing.T) {
	srv, url, client, _ := runnelOverHeld(t, heldUpstreams[3])
	for range 2 {
		srv.Release()
		if got := heldClients[0].call(t, client, url); !strings.Contains(got, "Hello") || !strings.Contains(got, "data: [DONE]") {
			t.Fatalf("answer %q", got)
		}
	}
	dialect.WaitDrains()
	if n := srv.Conns(); n != 1 {
		t.Errorf("%d upstream connections for 2 sequential calls, want 1", n)
	}
}

// findLeaks is goleak.Find, after the servers' connections have closed.
func findLeaks(before goleak.Option) error {
	var err error
	for range 10 {
		if err = goleak.Find(before); err == nil {
			return nil
		}
	}
	return err
}

// A client that goes away mid-answer still cancels the upstream request
// at once, whichever the upstream API: the request's context (the
// drain's, dialect.Drain.Context) passes the call's cancellation on.
func TestClientGoneCancelsEveryUpstream(t *testing.T) {
	for _, up := range heldUpstreams {
		t.Run(up.name, func(t *testing.T) {
			gone := make(chan struct{})
			first := firstPart(up)
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", up.ctype)
				io.WriteString(w, first)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				close(gone)
			}))
			defer upstream.Close()
			transport := http.DefaultTransport.(*http.Transport).Clone()
			defer transport.CloseIdleConnections()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			gw := gateway.New(gateway.Options{Router: oneRoute{up.provider(upstream.URL, &http.Client{Transport: transport})}})
			ts := httptest.NewServer(server.New(server.Options{Logger: log, Dialects: server.Dialects(gw, server.DialectOptions{Logger: log})}))
			defer ts.Close()

			resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(heldChat))
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			buf := make([]byte, 512)
			for !strings.Contains(string(got), "Hello") {
				n, err := resp.Body.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					t.Fatalf("%q: %v", got, err)
				}
			}
			resp.Body.Close() // the client goes away mid-answer
			waitFor(t, gone, "the upstream request's cancellation")
		})
	}
}

// firstPart is up's answer up to the end of the event that carries its
// text.
func firstPart(up heldUpstream) string {
	end := "\n\n"
	if up.name == "ollama" {
		end = "\n"
	}
	i := strings.Index(up.answer, "Hello")
	return up.answer[:i+strings.Index(up.answer[i:], end)+len(end)]
}
