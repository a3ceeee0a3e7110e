package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/runnel/runnel/mock"
)

// proxyCopyBuffer is the buffer httputil.ReverseProxy copies a response
// through when it has no BufferPool: 32 KiB, held for the whole stream, of
// which an open stream's few small reads touch one page.
const proxyCopyBuffer = 32 << 10

// TestOpenStreamsHoldLessHeapThanTheProxy pins what an open stream keeps
// on the heap (after a collection, so not a timing): through Runnel, no more
// than through the bare proxy apart from the proxy's copy buffer (which
// holds only one page in memory; the rest is never touched). The hops run
// in processes of their own, 1,000 streams open in each, each having sent
// one token, as in BenchmarkOpenStreams. Runnel used to keep about 3.5 KiB
// a stream more than that: the upstream connection's 4 KiB read buffer
// (below its own SSE reader's), a header map per upstream request, the
// header timer after its use, a chunk buffer larger than a chunk.
func TestOpenStreamsHoldLessHeapThanTheProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 streams through two hop processes")
	}
	const n = 1000
	upstream := httptest.NewServer(MockHandler(mock.Options{Tokens: 50, ITL: 20 * time.Millisecond}))
	defer upstream.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	heap := map[string]float64{}
	for _, h := range []hop{{"proxy", "", "default?hang_after=1"}, {"runnel", "", "openai/default?hang_after=1"}} {
		p := startHop(t, h.name, upstream.URL)
		h.url = p.URL
		open(t, 1, h, client, "hi")()
		before := p.stats(t, true)
		closeAll := open(t, n, h, client, "hi")
		with := p.stats(t, true)
		closeAll()
		p.stop()
		heap[h.name] = (float64(with.LiveBytes-with.Stacks) - float64(before.LiveBytes-before.Stacks)) / n
	}
	t.Logf("heap per open stream: proxy %.0f bytes (%.0f without its copy buffer), Runnel %.0f",
		heap["proxy"], heap["proxy"]-proxyCopyBuffer, heap["runnel"])
	if heap["runnel"] > heap["proxy"]-proxyCopyBuffer {
		t.Errorf("Runnel keeps %.0f bytes of heap per open stream, the proxy %.0f apart from its copy buffer",
			heap["runnel"], heap["proxy"]-proxyCopyBuffer)
	}
}
