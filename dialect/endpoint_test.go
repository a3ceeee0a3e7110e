package dialect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/stream"
)

// echoUpstream answers a POST to /v1/x with what it got: method, path,
// headers and body; /v1/moved redirects there with 307 (body kept) or
// 302 (GET, no body).
func echoUpstream(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		switch r.URL.Path {
		case "/v1/moved":
			http.Redirect(w, r, "/v1/x", http.StatusTemporaryRedirect)
			return
		case "/v1/found":
			http.Redirect(w, r, "/v1/x", http.StatusFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.Header.Get("Accept")+" "+r.Header.Get("Authorization")+" "+string(b))
	}))
	t.Cleanup(srv.Close)
	return srv, &posts
}

// A call reaches the upstream the same way whether it goes straight to
// the transport or through the client (a client with a cookie jar), with
// bodies shorter and longer than short; redirects are followed as the
// client follows them.
func TestEndpointPost(t *testing.T) {
	srv, posts := echoUpstream(t)
	jar, _ := cookiejar.New(nil)
	header := http.Header{"Accept": {"text/event-stream"}}
	long := strings.Repeat("b", 3000)
	for _, c := range []struct {
		name   string
		client *http.Client
		direct bool
	}{
		{"direct", &http.Client{}, true},
		{"jar", &http.Client{Jar: jar}, false},
		{"timeout", &http.Client{Timeout: 1 << 40}, false},
	} {
		for _, tc := range []struct{ path, body, want string }{
			{"/v1/x", "short", "POST /v1/x text/event-stream  short"},
			{"/v1/x", long, "POST /v1/x text/event-stream  " + long},
			{"/v1/x", "", "POST /v1/x text/event-stream  "},
			{"/v1/moved", long, "POST /v1/x text/event-stream  " + long},
			{"/v1/found", "short", "GET /v1/x text/event-stream  "},
		} {
			e, err := NewEndpoint(c.client, srv.URL+tc.path, header)
			if err != nil {
				t.Fatal(err)
			}
			if (e.direct != nil) != c.direct {
				t.Fatalf("%s: direct = %v", c.name, e.direct != nil)
			}
			body := []byte(tc.body)
			resp, err := e.Post(context.Background(), &body, 1024)
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, tc.path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != tc.want {
				t.Errorf("%s %s %d bytes: %d %.80q, want %.80q", c.name, tc.path, len(tc.body), resp.StatusCode, b, tc.want)
			}
		}
	}
	// A user in the URL is basic auth, which the client adds.
	e, err := NewEndpoint(&http.Client{}, strings.Replace(srv.URL, "http://", "http://u:p@", 1)+"/v1/x", header)
	if err != nil || e.direct != nil {
		t.Fatalf("user in the URL: direct %v, %v", e.direct != nil, err)
	}
	body := []byte("b")
	resp, err := e.Post(context.Background(), &body, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /v1/x text/event-stream Basic dTpw b" {
		t.Errorf("user in the URL: %q", b)
	}
	if len(header) != 1 {
		t.Errorf("the shared header was changed: %v", header)
	}
	if posts.Load() == 0 {
		t.Fatal("no requests")
	}
	if _, err := NewEndpoint(&http.Client{}, "://bad", header); err == nil {
		t.Error("a bad URL is no error")
	}
}

// roundTripFunc is a transport of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A call straight to the transport allocates its request and its body's
// reader, nothing for the URL or the headers (through Client.Do it was 10
// allocations more).
func TestEndpointPostAllocations(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}
	var buf [4096]byte
	var got []byte
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n, _ := io.ReadFull(r.Body, buf[:])
		got = buf[:n]
		return resp, nil
	})
	e, err := NewEndpoint(&http.Client{Transport: rt}, "http://up/v1/chat/completions", http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{[]byte(`{"model":"m"}`), bytes.Repeat([]byte("x"), 3000)} {
		n := testing.AllocsPerRun(100, func() {
			p := GetBuffer(len(body)) // Post takes the buffer over
			*p = append(*p, body...)
			if _, err := e.Post(context.Background(), p, 1024); err != nil {
				t.Fatal(err)
			}
		})
		if !bytes.Equal(got, body) {
			t.Fatalf("the transport read %d bytes, want %d", len(got), len(body))
		}
		if n > 6 { // the request, the body's reader (and its NopCloser), GetBody; a short body's copy of its own length (the pooled buffer goes back at once)
			t.Errorf("%d-byte body: %.0f allocations a call", len(body), n)
		}
	}
}

// PostIn sends the request made in the caller's *r, with the caller's
// context and the template's method, URL and headers, and spares Post's
// allocation of the request; the template is left as it was.
func TestEndpointPostIn(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}
	var sent *http.Request
	var got []byte
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r
		got, _ = io.ReadAll(r.Body)
		return resp, nil
	})
	header := http.Header{"Accept": {"text/event-stream"}}
	e, err := NewEndpoint(&http.Client{Transport: rt}, "http://up/v1/chat/completions", header)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "call")
	var r http.Request
	body := []byte(`{"model":"m"}`)
	if _, err := e.PostIn(&r, ctx, &body, 1024); err != nil {
		t.Fatal(err)
	}
	if sent != &r || r.Context() != ctx || r.Method != http.MethodPost || r.URL.String() != "http://up/v1/chat/completions" ||
		r.Header.Get("Accept") != "text/event-stream" || string(got) != `{"model":"m"}` || r.ContentLength != int64(len(got)) {
		t.Fatalf("sent %p (want %p) %s %v, body %q", sent, &r, r.Method, r.URL, got)
	}
	if e.tmpl.Context() != context.Background() || e.tmpl.Body != nil {
		t.Fatal("the template was changed")
	}
	n := testing.AllocsPerRun(100, func() {
		r = http.Request{} // the caller's, as a stream's state is
		p := GetBuffer(len(body))
		*p = append(*p, body...)
		if _, err := e.PostIn(&r, ctx, p, 1024); err != nil {
			t.Fatal(err)
		}
	})
	if n > 5 { // Post's but the request
		t.Errorf("%.0f allocations a call", n)
	}
}

// stallBody is a body whose reads wait until it is closed.
type stallBody struct {
	closed chan struct{}
	once   sync.Once
}

func (b *stallBody) Read([]byte) (int, error) { <-b.closed; return 0, io.ErrClosedPipe }
func (b *stallBody) Close() error             { b.once.Do(func() { close(b.closed) }); return nil }

// closeCounter counts Close calls of a body that ends at once.
type closeCounter struct {
	io.Reader
	n atomic.Int32
}

func (c *closeCounter) Close() error { c.n.Add(1); return nil }

// A drain reads the rest of a body to its end, then closes it, after
// Close has returned; one whose body stalls has it closed by the shared
// timer, while drains that end at once go on around it; the list is
// empty after, and WaitDrains waits for them all.
func TestDrain(t *testing.T) {
	stalled := &stallBody{closed: make(chan struct{})}
	var stall Drain
	stall.Close(stalled, false)
	bodies := make([]*closeCounter, 50)
	for i := range bodies {
		body := &closeCounter{Reader: strings.NewReader("data: [DONE]\n\n0\r\n\r\n")}
		bodies[i] = body
		d := new(Drain)
		d.Close(body, false)
		d.Close(body, false) // once
	}
	WaitDrains()
	select {
	case <-stalled.closed:
	default:
		t.Fatal("WaitDrains returned with the stalled body open")
	}
	for _, body := range bodies {
		if rest, _ := io.ReadAll(body); len(rest) != 0 || body.n.Load() != 1 {
			t.Fatalf("%d bytes left, closed %d times", len(rest), body.n.Load())
		}
	}
	drains.mu.Lock()
	if drains.head != nil || drains.tail != nil || stall.linked || drains.running != 0 {
		t.Error("drains left in the list")
	}
	drains.mu.Unlock()

	// An answer whose reads met its body's end is closed at once: no
	// goroutine, nothing allocated.
	rd := strings.NewReader("never read")
	body := &closeCounter{Reader: rd}
	ds, i := make([]Drain, 101), 0 // a stream's, made with it
	n := testing.AllocsPerRun(100, func() {
		ds[i].Close(body, true)
		i++
	})
	if n != 0 || rd.Len() != len("never read") || body.n.Load() != 101 {
		t.Errorf("%.0f allocations, %d bytes read, closed %d times", n, len("never read")-rd.Len(), body.n.Load())
	}
}

// CloseDrains closes the bodies of the drains under way (a server shutting
// down) and waits for them.
func TestCloseDrains(t *testing.T) {
	stalled := &stallBody{closed: make(chan struct{})}
	var d Drain
	d.Close(stalled, false)
	CloseDrains()
	select {
	case <-stalled.closed:
	default:
		t.Fatal("CloseDrains returned with the body open")
	}
	drains.mu.Lock()
	defer drains.mu.Unlock()
	if drains.head != nil || drains.running != 0 {
		t.Error("drains left")
	}
}

// A request sent with a drain's context is cancelled with the call's
// until the drain is detached: the transport's context for it
// (context.WithCancelCause of the request's) is registered through the
// drain's AfterFunc, not on the call's context directly, and detaching
// undoes that.
func TestDrainContext(t *testing.T) {
	type key struct{}
	call, cancel := context.WithCancelCause(context.WithValue(context.Background(), key{}, "v"))
	var d Drain
	rctx := d.Context(call)
	live, end := context.WithCancelCause(rctx)
	defer end(nil)
	if d.req.stop == nil {
		t.Fatal("the request's context joined the call's directly")
	}
	var d2 Drain
	kept, end2 := context.WithCancelCause(d2.Context(call))
	defer end2(nil)
	d.req.detach()
	errShut := errors.New("shutting down")
	cancel(errShut)
	<-kept.Done() // not detached: cancelled with the call
	if context.Cause(kept) == nil {
		t.Error("no cause")
	}
	if live.Err() != nil {
		t.Error("a detached request was cancelled with the call")
	}
	if rctx.Err() == nil || rctx.Done() != call.Done() {
		t.Error("the request's context does not report the call's state")
	}
	if rctx.Value(key{}) != "v" {
		t.Error("values are not the call's")
	}
}

// BodyReader calls the BeforeWait function before every read and notes
// the end of the body.
func TestBodyReader(t *testing.T) {
	var waits int
	ctx := stream.WithBeforeWait(context.Background(), func() { waits++ })
	var b BodyReader
	b.Reset(ctx, strings.NewReader("abc"))
	buf := make([]byte, 2)
	for {
		if _, err := b.Read(buf); err != nil {
			break
		}
		if b.EOF() {
			t.Fatal("EOF before the end")
		}
	}
	if !b.EOF() || waits != 3 {
		t.Errorf("EOF %v after %d waits, want true after 3", b.EOF(), waits)
	}
	b.Reset(context.Background(), strings.NewReader("x"))
	if b.EOF() || b.f != nil {
		t.Error("Reset kept the last body's state")
	}
}
