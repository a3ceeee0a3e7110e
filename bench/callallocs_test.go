package bench

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/runnel/runnel/mock"
)

// A one-token call through either hop, counted as BenchmarkCallSetup
// counts it (the request and the harness's allocations included): 39
// allocations on the Anthropic hop, 37 on the OpenAI hop (whose fixed
// upstream chunks keep their finish reason without a copy, and whose
// head and shape share one allocation); 40 and 38 before the text
// controls were opened in the call's state; 43 and 41 before the call id
// came from a block of eight, and the server's and the upstream's
// requests were each made in state the call already had (50 before the request scanners' JSONScanner stayed on the
// stack, each dialect's stream encoder took the place of its closure and
// a drain's goroutine started without one; 46 before a request and its
// messages were one allocation, and the scanned body held its first
// messages and small values). The proxy's is 39.
func TestCallAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	body, abody := recordedStream(t, 1), recordedAnthropicStream(t, 1)
	obfuscated := mock.Obfuscate(recordedStream(t, 50), 1)
	for _, c := range []struct {
		callHop
		want int
	}{
		{callHop{"openai", "/v1/chat/completions", chatBody("openai/default"), gatewayOver("http://upstream", &http.Client{Transport: cannedUpstream{Body: body}})}, 37},
		{callHop{"anthropic", "/v1/messages", messagesBody("anthropic/default"), gatewayAnthropicOver("http://upstream", &http.Client{Transport: cannedUpstream{Body: abody}})}, 39},
		// 50 tokens with OpenAI's obfuscation member: no more than
		// without it (40), where every token's chunk, parsed in full,
		// was an allocation (93). Last: its drains would count in the
		// cases after it.
		{callHop{"openai-obfuscated", "/v1/chat/completions", chatBody("openai/default"), gatewayOver("http://upstream", &http.Client{Transport: cannedUpstream{Body: obfuscated}})}, 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &sinkWriter{h: http.Header{}}
			call := func() {
				clear(w.h)
				w.n = 0
				c.h.ServeHTTP(w, httptest.NewRequest("POST", c.path, strings.NewReader(c.body)))
				if w.n == 0 {
					t.Fatal("nothing written")
				}
				// A call whose upstream body has not met its end hands it
				// to a drain's goroutine. AllocsPerRun runs on one P, where
				// that goroutine would wait behind this loop: the next
				// call would then find no exited goroutine to reuse and
				// allocate one, or not, as the scheduler's preemption
				// falls (37 or 38 on the OpenAI hop). Yielding lets each
				// drain end before the next call, as a server's do.
				runtime.Gosched()
			}
			// The fewest of five rounds: AllocsPerRun counts the whole
			// process's allocations, and what the package's other tests
			// left running (timers) only adds to them.
			n := testing.AllocsPerRun(100, call)
			for range 4 {
				n = min(n, testing.AllocsPerRun(100, call))
			}
			if n > float64(c.want) {
				t.Errorf("%.0f allocations a call, want at most %d", n, c.want)
			}
		})
	}
}
