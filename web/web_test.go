package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/web"
)

// watched records, per model asked for, whether a call's context was
// cancelled before its stream finished: that is the server cancelling
// generation when the page's Stop button aborts the request.
type watched struct {
	inner stream.Provider
	mu    sync.Mutex
	stops map[string]chan struct{} // closed on cancellation
}

func (w *watched) cancelled(model string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stops[model] == nil {
		w.stops[model] = make(chan struct{})
	}
	return w.stops[model]
}

func (w *watched) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	s, err := w.inner.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	ws := &watchedStream{Stream: s, done: make(chan struct{})}
	ch := w.cancelled(req.Model)
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-ws.done:
			default:
				close(ch)
			}
		case <-ws.done:
		}
	}()
	return ws, nil
}

type watchedStream struct {
	stream.Stream
	once sync.Once
	done chan struct{}
}

func (s *watchedStream) Recv() (stream.Event, error) {
	ev, err := s.Stream.Recv()
	if err == io.EOF || ev.Kind == stream.KindFinish {
		s.once.Do(func() { close(s.done) })
	}
	return ev, err
}

// newServer serves the page, the OpenAI API and the native API (whose
// DELETE /api/v1/streams/{id} the page's Stop sends) over the mock. The
// page's streams are resumable: without that DELETE a stopped one would be
// cancelled only when grace runs out. wrap, if not nil, wraps the whole
// server.
func newServer(t *testing.T, grace time.Duration, wrap func(http.Handler) http.Handler) (*httptest.Server, *watched) {
	w := &watched{inner: mock.New(mock.Options{}), stops: map[string]chan struct{}{}}
	r := gateway.NewStaticRouter()
	r.Register("mock", w)
	models := map[string]string{
		"story":  "slow?text=" + urlText("The **robot** learned to paint. It painted the sea, then the sky, then the small red boat.") + "&itl=25ms&think=3",
		"hang":   "hang?text=" + urlText("Stop me if you can") + "&hang_after=3",
		"broken": "broken?text=" + urlText("This will fail") + "&error_after=2",
	}
	for alias, m := range models {
		r.Alias(alias, gateway.Target{Provider: "mock", Model: m})
		r.List(gateway.ModelInfo{ID: alias, Provider: "mock", OwnedBy: "runnel"})
	}
	// Models the picker must leave out: one that cannot stream, and a
	// listed model seen again through a provider that proxies to it.
	r.Register("images", w)
	r.NoStream("images")
	r.List(gateway.ModelInfo{ID: "images/mock/default", Provider: "images"},
		gateway.ModelInfo{ID: "mock/default", Provider: "mock"},
		gateway.ModelInfo{ID: "openai/mock/default", Provider: "openai"})
	gw := gateway.New(gateway.Options{Router: r})
	resumer := dialect.NewResumer(resume.Options{Grace: grace}, nil)
	var h http.Handler = server.New(server.Options{Dialects: []server.Dialect{
		openai.NewServer(gw, openai.Options{Resume: resumer}), native.NewServer(gw, native.Options{Resume: resumer}), web.Page{}}})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, w
}

func urlText(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, " ", "%20"), ",", "%2C")
}

func browser(t *testing.T) context.Context {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium); scripts/test installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// A guard against a hung browser, not a latency assertion.
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// outputDir is where the screenshot goes: $RUNNEL_TEST_OUTPUT, else
// test/output at the repository root.
func outputDir(t *testing.T) string {
	if d := os.Getenv("RUNNEL_TEST_OUTPUT"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "test", "output")
}

const observe = `(() => {
  window.__updates = 0;
  new MutationObserver(() => window.__updates++).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});
  return true;
})()`

// js evaluates expr in the page and returns its value.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript predicate to hold.
func until(t *testing.T, ctx context.Context, pred string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](pred, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v", pred, err)
	}
}

func send(t *testing.T, ctx context.Context, model, prompt string) {
	t.Helper()
	js[bool](t, ctx, `(() => {
  document.getElementById('model').value = `+quote(model)+`;
  document.getElementById('prompt').value = `+quote(prompt)+`;
  document.getElementById('send').click();
  return true;
})()`)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

func TestChatPageInChromium(t *testing.T) {
	// An hour's grace: only Stop's explicit cancel can end the stopped
	// generation within the test.
	srv, w := newServer(t, time.Hour, nil)
	ctx := browser(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, `document.querySelectorAll('#model option').length > 0`)
	options := js[[]string](t, ctx, `[...document.querySelectorAll('#model option')].map(o => o.value).sort()`)
	if strings.Join(options, ",") != "broken,hang,mock/default,story" {
		t.Fatalf("model picker = %v, want the server's /v1/models that stream, once each", options)
	}
	js[bool](t, ctx, observe)

	// A streamed reply: many DOM updates before it is complete, rendered as markdown.
	send(t, ctx, "story", "Tell me about the robot")
	until(t, ctx, `document.getElementById('status').textContent.startsWith('done')`)
	updates := js[int](t, ctx, `window.__updates`)
	html := js[string](t, ctx, `document.querySelector('.msg.assistant .content').innerHTML`)
	if want := "<p>The <strong>robot</strong> learned to paint. It painted the sea, then the sky, then the small red boat.</p>"; html != want {
		t.Fatalf("reply = %s\nwant    %s", html, want)
	}
	if updates < 10 {
		t.Fatalf("the reply arrived in %d DOM updates; want it to stream in token by token", updates)
	}
	// Thinking sits in its own collapsible block, not in the reply.
	thinking := js[[]any](t, ctx, `(() => { const d = document.querySelector('.msg.assistant details'); return [d.hidden, d.open, d.querySelector('.thinking').textContent]; })()`)
	if len(thinking) != 3 || thinking[0] != false || thinking[1] != false || thinking[2] != "Let me think" {
		t.Fatalf("thinking block [hidden, open, text] = %v, want a closed, visible block holding %q", thinking, "Let me think")
	}
	if status := js[string](t, ctx, `document.getElementById('status').textContent`); status != "done (stop)" {
		t.Fatalf("status = %q", status)
	}
	ttft := js[string](t, ctx, `document.getElementById('ttft').textContent`)
	tps := js[string](t, ctx, `document.getElementById('tps').textContent`)
	if !strings.HasPrefix(ttft, "TTFT ") || !strings.HasSuffix(ttft, " ms") || !strings.HasSuffix(tps, " tok/s") || strings.HasPrefix(tps, "–") {
		t.Fatalf("live metrics = %q, %q", ttft, tps)
	}

	// Stop cancels generation on the server at once.
	send(t, ctx, "hang", "Go on forever")
	until(t, ctx, `document.querySelectorAll('.msg.assistant .content')[1]?.textContent === 'Stop me if'`)
	js[bool](t, ctx, `(document.getElementById('stop').click(), true)`)
	until(t, ctx, `document.getElementById('status').textContent === 'stopped'`)
	select {
	case <-w.cancelled("hang?text=Stop%20me%20if%20you%20can&hang_after=3"):
	case <-time.After(30 * time.Second): // a hang guard, not a latency assertion
		t.Fatal("the server never cancelled the stopped generation")
	}

	// An upstream failure shows as an error, not as silence.
	send(t, ctx, "broken", "Try")
	until(t, ctx, `document.querySelector('.msg.error[role=alert]') !== null`)
	if alert := js[string](t, ctx, `document.querySelector('.msg.error').textContent`); !strings.HasPrefix(alert, "Error") || len(alert) < 10 {
		t.Fatalf("error shown = %q", alert)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := outputDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "web-chat.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}

func TestSDKServed(t *testing.T) {
	srv, _ := newServer(t, 0, nil)
	resp, err := http.Get(srv.URL + "/sdk/runnel.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want, _ := os.ReadFile("../sdk/js/runnel.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || string(body) != string(want) {
		t.Fatalf("GET /sdk/runnel.js: %d %q, %d bytes (want %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(want))
	}
}

// cutter drops the connection of the first chat stream after
// `after` bytes of its body, as a flaky network would, and records the
// Last-Event-ID of every reconnect.
type cutter struct {
	next  http.Handler
	after int

	mu      sync.Mutex
	cuts    int
	resumed []string
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		c.resumed = append(c.resumed, id)
	}
	first := c.cuts == 0 && r.URL.Path == "/v1/chat/completions"
	if first {
		c.cuts++
	}
	c.mu.Unlock()
	if first {
		w = &cuttingWriter{ResponseWriter: w, left: c.after}
	}
	c.next.ServeHTTP(w, r)
}

var errCut = errors.New("connection cut by the test")

// cuttingWriter writes its first `left` bytes, then closes the connection
// under the response: the client sees a chunked body end short.
type cuttingWriter struct {
	http.ResponseWriter
	left int
	cut  bool
}

func (w *cuttingWriter) Write(p []byte) (int, error) {
	if w.cut {
		return 0, errCut
	}
	if len(p) < w.left {
		w.left -= len(p)
		return w.ResponseWriter.Write(p)
	}
	w.cut = true
	rc := http.NewResponseController(w.ResponseWriter)
	if _, err := w.ResponseWriter.Write(p[:w.left]); err == nil && rc.Flush() == nil {
		if conn, buf, err := rc.Hijack(); err == nil {
			buf.Flush()
			conn.Close()
		}
	}
	return 0, errCut
}

func (w *cuttingWriter) FlushError() error {
	if w.cut {
		return errCut
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func TestChatPageResumesACutStream(t *testing.T) {
	cut := &cutter{after: 1200}
	srv, _ := newServer(t, 0, func(h http.Handler) http.Handler { cut.next = h; return cut })
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, `document.querySelectorAll('#model option').length > 0`)

	send(t, ctx, "story", "Tell me about the robot")
	until(t, ctx, `document.getElementById('status').textContent.startsWith('done') || document.querySelector('.msg.error') !== null`)
	if alert := js[string](t, ctx, `document.querySelector('.msg.error')?.textContent ?? ''`); alert != "" {
		t.Fatalf("the page shows an error: %s", alert)
	}
	cut.mu.Lock()
	cuts, resumed := cut.cuts, cut.resumed
	cut.mu.Unlock()
	if cuts != 1 || len(resumed) != 1 || !regexp.MustCompile(`^rs_[0-9a-f]{32}-[1-9][0-9]*$`).MatchString(resumed[0]) {
		t.Fatalf("cuts = %d, reconnects' Last-Event-IDs = %q; want one cut and one reconnect after an event", cuts, resumed)
	}
	// The whole reply, once: nothing lost at the cut, nothing repeated.
	html := js[string](t, ctx, `document.querySelector('.msg.assistant .content').innerHTML`)
	if want := "<p>The <strong>robot</strong> learned to paint. It painted the sea, then the sky, then the small red boat.</p>"; html != want {
		t.Fatalf("reply = %s\nwant    %s", html, want)
	}
	if thinking := js[string](t, ctx, `document.querySelector('.msg.assistant .thinking').textContent`); thinking != "Let me think" {
		t.Fatalf("thinking = %q", thinking)
	}
	if status := js[string](t, ctx, `document.getElementById('status').textContent`); status != "done (stop)" {
		t.Fatalf("status = %q", status)
	}
}
