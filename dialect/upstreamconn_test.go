package dialect

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
)

// Bodies of every length reach the upstream whole through connections
// whose copies are pooled, and a long body's copy no longer allocates a
// buffer of its length per request.
func TestPoolBodyCopies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Sum", strconv.Itoa(sum(b)))
		w.Header().Set("X-Len", strconv.Itoa(len(b)))
	}))
	defer srv.Close()
	client := func(pooled bool) *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.WriteBufferSize = 1024
		// One connection: a request waits for the last one's to be put
		// back idle rather than dialling another, whose allocations a
		// loaded machine would add to the counts below.
		tr.MaxConnsPerHost = 1
		if pooled {
			PoolBodyCopies(tr)
		}
		return &http.Client{Transport: tr}
	}
	// A dialer of connections that are no *net.TCPConn (a TLS or a
	// wrapped one) gets the general pooled connection.
	other := http.DefaultTransport.(*http.Transport).Clone()
	other.WriteBufferSize = 1024
	other.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return struct{ net.Conn }{c}, err
	}
	PoolBodyCopies(other)
	post := func(t testing.TB, c *http.Client, body []byte) {
		p := bytes.Clone(body)
		req, sent, err := NewUpstreamPost(t.Context(), srv.URL, &p, 1024)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		sent.Release()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Len") != strconv.Itoa(len(body)) || resp.Header.Get("X-Sum") != strconv.Itoa(sum(body)) {
			t.Fatalf("%d bytes sent, the upstream got %s", len(body), resp.Header.Get("X-Len"))
		}
	}
	pooled := client(true)
	defer pooled.CloseIdleConnections()
	wrapped := &http.Client{Transport: other}
	defer wrapped.CloseIdleConnections()
	for _, n := range []int{0, 1, 1023, 1024, 1025, 9000, 40 << 10, 100 << 10} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i * 7)
		}
		post(t, pooled, body)
		post(t, wrapped, body)
	}

	if raceEnabled {
		return
	}
	// Bytes allocated per request of 8 KiB (the client's and the
	// server's, in this process), without and with the pooled copy.
	plain := client(false)
	defer plain.CloseIdleConnections()
	body := bytes.Repeat([]byte("x"), 8<<10)
	perRequest := func(c *http.Client) float64 {
		const n = 50
		// Each count from the same heap goal: as many collections
		// (which empty the pools) in each.
		runtime.GC()
		post(t, c, body) // a connection, and a buffer in the pool
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			post(t, c, body)
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / n
	}
	without, with := perRequest(plain), perRequest(pooled)
	t.Logf("bytes allocated per request: %.0f without the pooled copy, %.0f with", without, with)
	if without-with < 6<<10 {
		t.Errorf("the pooled copy saves %.0f bytes a request of 8 KiB, want at least 6 KiB", without-with)
	}
}

func sum(b []byte) int {
	s := 0
	for i, c := range b {
		s += (i + 1) * int(c)
	}
	return s
}
