package dialect

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// bodyLog keeps a copy of every request body an upstream read whole, in
// order.
type bodyLog struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (l *bodyLog) add(b []byte) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bodies = append(l.bodies, bytes.Clone(b))
	return len(l.bodies)
}

func (l *bodyLog) all() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.bodies...)
}

// h2Upstream is a bare HTTP/2 server with prior knowledge (h2c), written
// with frames by hand, as no HTTP/2 server of net/http's refuses streams
// on demand: it reads each stream's body whole, then answers 200 "ok",
// except on its first connection's first stream, which it refuses
// (RST_STREAM REFUSED_STREAM) or drops with a GOAWAY naming no stream
// processed, once it has read that body whole: what makes net/http's
// HTTP/2 transport send a request again, through GetBody.
type h2Upstream struct {
	ln     net.Listener
	goaway bool // drop with GOAWAY, not RST_STREAM
	log    bodyLog
	wg     sync.WaitGroup
}

func newH2Upstream(t *testing.T, goaway bool) *h2Upstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &h2Upstream{ln: ln, goaway: goaway}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				u.serve(c, first)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

// The frames h2Upstream reads and writes (RFC 9113).
const (
	h2Data, h2Headers, h2RST, h2Settings, h2GoAway = 0, 1, 3, 4, 7
	h2EndStream, h2Ack, h2EndHeaders, h2Padded     = 0x1, 0x1, 0x4, 0x8
	h2RefusedStream                                = 0x7
)

func (u *h2Upstream) serve(c net.Conn, first bool) {
	br := bufio.NewReader(c)
	preface := make([]byte, len(http2Preface))
	if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2Preface {
		return
	}
	write := func(typ, flags byte, stream uint32, payload []byte) {
		h := make([]byte, 9, 9+len(payload))
		h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		h[3], h[4] = typ, flags
		binary.BigEndian.PutUint32(h[5:], stream)
		c.Write(append(h, payload...))
	}
	write(h2Settings, 0, 0, nil)
	bodies := map[uint32][]byte{}
	dropped := !first
	for {
		var h [9]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		typ, flags, stream := h[3], h[4], binary.BigEndian.Uint32(h[5:])&(1<<31-1)
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		switch typ {
		case h2Settings:
			if flags&h2Ack == 0 {
				write(h2Settings, h2Ack, 0, nil)
			}
			continue
		case h2Data:
			if flags&h2Padded != 0 && len(payload) > 0 {
				payload = payload[1 : len(payload)-int(payload[0])]
			}
			bodies[stream] = append(bodies[stream], payload...)
		case h2Headers:
			bodies[stream] = bodies[stream][:0]
		default:
			continue
		}
		if flags&h2EndStream == 0 {
			continue
		}
		u.log.add(bodies[stream])
		delete(bodies, stream)
		switch {
		case !dropped && u.goaway:
			dropped = true
			var p [8]byte // last stream 0, NO_ERROR
			write(h2GoAway, 0, 0, p[:])
			return
		case !dropped:
			dropped = true
			write(h2RST, 0, stream, binary.BigEndian.AppendUint32(nil, h2RefusedStream))
		default:
			write(h2Headers, h2EndHeaders, stream, []byte{0x88}) // :status 200, indexed
			write(h2Data, h2EndStream, stream, []byte("ok"))
		}
	}
}

const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2cClient is a client that speaks HTTP/2 with prior knowledge only.
func h2cClient() *http.Client {
	t := &http.Transport{Protocols: new(http.Protocols)}
	t.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: t}
}

// givenBack waits for n more upstream bodies given back (poisoned) than
// before: the transport closes a body it was given, the last reference,
// perhaps from a goroutine of its own after RoundTrip returned. The
// deadline guards a hang only.
func givenBack(t *testing.T, before, n int64) {
	t.Helper()
	for end := time.Now().Add(time.Minute); PoisonedSentBodies()-before < n; {
		if time.Now().After(end) {
			t.Fatalf("%d bodies given back, want %d", PoisonedSentBodies()-before, n)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if got := PoisonedSentBodies() - before; got != n {
		t.Fatalf("%d bodies given back, want %d", got, n)
	}
}

// sameBodies fails unless every body the upstream read is want, and it
// read want times of them.
func sameBodies(t *testing.T, got [][]byte, want []byte, times int) {
	t.Helper()
	if len(got) != times {
		t.Fatalf("the upstream read %d bodies, want %d", len(got), times)
	}
	for i, b := range got {
		if !bytes.Equal(b, want) {
			t.Fatalf("body %d: %d bytes (%d poison), want the %d sent", i, len(b), bytes.Count(b, []byte{poison}), len(want))
		}
	}
}

// longBody is a body longer than short (1 KiB), in a buffer of the pool
// (as the providers' encoders make it), with a copy to compare with.
func longBody(n int) (p *[]byte, want []byte) {
	want = make([]byte, n)
	for i := range want {
		want[i] = 'a' + byte(i%26)
	}
	p = GetBuffer(n)
	*p = append(*p, want...)
	return p, want
}

// An HTTP/2 upstream that refuses a stream, or drops it with GOAWAY, after
// reading its whole body gets the same bytes again through GetBody; the
// body is given back once, after the last send, and no send reads poison.
func TestEndpointResendsOverHTTP2(t *testing.T) {
	PoisonReleasedBodies(true)
	defer PoisonReleasedBodies(false)
	for _, goaway := range []bool{false, true} {
		u := newH2Upstream(t, goaway)
		client := h2cClient()
		defer client.CloseIdleConnections()
		e, err := NewEndpoint(client, "http://"+u.ln.Addr().String()+"/v1/x", http.Header{"Content-Type": {"application/json"}})
		if err != nil || e.direct == nil {
			t.Fatal(err)
		}
		was := PoisonedSentBodies()
		body, want := longBody(5000)
		resp, err := e.Post(context.Background(), body, 1024)
		if err != nil {
			t.Fatalf("goaway %v: %v", goaway, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("goaway %v: %d %q", goaway, resp.StatusCode, b)
		}
		sameBodies(t, u.log.all(), want, 2)
		if !goaway {
			givenBack(t, was, 1)
		} else if n := PoisonedSentBodies() - was; n > 1 {
			// net/http (1.26) leaves one GetBody reader unclosed here: its
			// HTTP/2 transport takes one for the retry, finds the
			// connection gone, and returns without closing it; the
			// Transport then takes another. That reader's reference is
			// never dropped, and the bytes go to the collector, not the
			// pool.
			t.Fatalf("given back %d times", n)
		}
	}
}

// h1Upstream answers /v1/warm with "warm", reads every other request's
// body whole into its log, and then closes the connection without an
// answer when drop says so, or answers "ok"; /v1/307 and /v1/308
// redirect to /v1/x with that status once they have read the body.
func h1Upstream(t *testing.T, drop func(n int) bool) (*httptest.Server, *bodyLog) {
	log := &bodyLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/warm" {
			io.WriteString(w, "warm")
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		n := log.add(b)
		switch {
		case r.URL.Path == "/v1/307":
			http.Redirect(w, r, "/v1/x", http.StatusTemporaryRedirect)
		case r.URL.Path == "/v1/308":
			http.Redirect(w, r, "/v1/x", http.StatusPermanentRedirect)
		case drop(n):
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		default:
			io.WriteString(w, "ok")
		}
	}))
	t.Cleanup(srv.Close)
	return srv, log
}

// An HTTP/1 request that carries an Idempotency-Key and whose reused
// connection closes after the upstream read its whole body is sent again
// by the transport, with the same bytes; without the header it is not
// (the transport's error is the call's). Either way the body is given
// back once, after the last send, straight to the transport or through
// the client.
func TestEndpointResendsOverHTTP1(t *testing.T) {
	PoisonReleasedBodies(true)
	defer PoisonReleasedBodies(false)
	jar, _ := cookiejar.New(nil)
	for _, c := range []struct {
		name string
		jar  http.CookieJar
		key  bool // Idempotency-Key
	}{
		{"direct, replayable", nil, true},
		{"client, replayable", jar, true},
		{"direct", nil, false},
		{"client", jar, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, log := h1Upstream(t, func(n int) bool { return n == 1 })
			client := &http.Client{Transport: &http.Transport{}, Jar: c.jar}
			defer client.CloseIdleConnections()
			header := http.Header{"Content-Type": {"application/json"}}
			if c.key {
				header.Set("Idempotency-Key", "call-1")
			}
			e, err := NewEndpoint(client, srv.URL+"/v1/x", header)
			if err != nil || (e.direct != nil) != (c.jar == nil) {
				t.Fatal(err)
			}
			// A first request leaves the connection idle, to be reused.
			warm, err := client.Get(srv.URL + "/v1/warm")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(warm.Body)
			warm.Body.Close()
			was := PoisonedSentBodies()
			body, want := longBody(6000)
			resp, err := e.Post(context.Background(), body, 1024)
			if !c.key {
				if err == nil {
					resp.Body.Close()
					t.Fatal("a request without an Idempotency-Key was sent again")
				}
				sameBodies(t, log.all(), want, 1)
				givenBack(t, was, 1)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "ok" {
				t.Fatalf("answer %q", b)
			}
			sameBodies(t, log.all(), want, 2)
			givenBack(t, was, 1)
		})
	}
}

// A 307 or 308 is followed with the same bytes, straight to the transport
// (which sends the call again through the client) or through the client;
// the body is given back once, after the last send.
func TestEndpointResendsOnRedirect(t *testing.T) {
	PoisonReleasedBodies(true)
	defer PoisonReleasedBodies(false)
	jar, _ := cookiejar.New(nil)
	for _, status := range []string{"307", "308"} {
		for _, c := range []struct {
			name  string
			jar   http.CookieJar
			sends int // the direct path sends the call to the moved URL twice
		}{{"direct", nil, 3}, {"client", jar, 2}} {
			srv, log := h1Upstream(t, func(int) bool { return false })
			client := &http.Client{Transport: &http.Transport{}, Jar: c.jar}
			e, err := NewEndpoint(client, srv.URL+"/v1/"+status, http.Header{"Content-Type": {"application/json"}})
			if err != nil {
				t.Fatal(err)
			}
			was := PoisonedSentBodies()
			body, want := longBody(7000)
			resp, err := e.Post(context.Background(), body, 1024)
			if err != nil {
				t.Fatalf("%s %s: %v", status, c.name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" {
				t.Fatalf("%s %s: %d %q", status, c.name, resp.StatusCode, b)
			}
			sameBodies(t, log.all(), want, c.sends)
			givenBack(t, was, 1)
			client.CloseIdleConnections()
		}
	}
}
