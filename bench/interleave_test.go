package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCallPathInterleaved is BenchmarkCallPath with many calls open
// at once, each given its next upstream event in turn: one token of one
// call is served at a time, round-robin over the calls, as a hop at c=500
// serves a token of one stream between those of 499 others. A call's
// state is then out of the caches by its next token (what cold per-stream
// objects cost a token is this benchmark's subject: docs/benchmarks.md,
// issue 13, fewobj session), and the order of the work does not depend on
// the scheduler, so that callgrind counts the same work in two binaries
// (run it with GOMAXPROCS=1 there). An op is every call, start to end.
func BenchmarkCallPathInterleaved(b *testing.B) {
	const calls, tokens = 500, 50
	body, abody := recordedStream(b, tokens), recordedAnthropicStream(b, tokens)
	b.Run("openai", func(b *testing.B) {
		interleaved(b, calls, tokens, body, func(up http.RoundTripper) callHop {
			return callHop{"runnel", "/v1/chat/completions", chatBody("openai/default"), gatewayOver("http://upstream", &http.Client{Transport: up})}
		})
	})
	b.Run("anthropic", func(b *testing.B) {
		interleaved(b, calls, tokens, abody, func(up http.RoundTripper) callHop {
			return callHop{"runnel", "/v1/messages", messagesBody("anthropic/default"), gatewayAnthropicOver("http://upstream", &http.Client{Transport: up})}
		})
	})
}

// interleaved runs calls calls through the hop made over a turn-taking
// upstream (turns) at once, each event of each call's answer (body) in
// its turn.
func interleaved(b *testing.B, calls, tokens int, body []byte, hopOver func(http.RoundTripper) callHop) {
	up := &turns{body: body, opened: make(chan *turnReads)}
	h := hopOver(up)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		reads := make([]*turnReads, calls)
		dones := make([]chan struct{}, calls)
		writers := make([]*sinkWriter, calls)
		for i := range calls {
			w := &sinkWriter{h: http.Header{}}
			writers[i], dones[i] = w, make(chan struct{}, 1)
			go func() {
				h.h.ServeHTTP(w, httptest.NewRequest("POST", h.path, strings.NewReader(h.body)))
				dones[i] <- struct{}{}
			}()
			select {
			case reads[i] = <-up.opened:
			case <-dones[i]:
				b.Fatalf("call %d ended before its upstream request", i)
			}
			select {
			case <-reads[i].ready: // its first read waits for its turn
			case <-dones[i]:
				b.Fatalf("call %d ended before its first read", i)
			}
		}
		for open := calls; open > 0; {
			for i, r := range reads {
				if r == nil {
					continue
				}
				r.gate <- struct{}{}
				// The call took its event and, with it served, waits
				// for its next one; or it ended (and what reads the
				// rest of its answer, a drain, reads it without turns).
				select {
				case <-r.ready:
				case <-dones[i]:
					close(r.over)
					reads[i] = nil
					open--
				}
			}
		}
		for i, w := range writers {
			if w.n < len(body)/2 {
				b.Fatalf("call %d wrote %d bytes", i, w.n)
			}
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/float64(calls*tokens)/1000, "cpu-µs/token")
}

// turns is an upstream whose answers give an SSE event a read, each read
// waiting for its turn (turnReads); opened has each answer's reads.
type turns struct {
	body   []byte
	opened chan *turnReads
}

func (t *turns) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	rd := &turnReads{rest: t.body, ready: make(chan struct{}), gate: make(chan struct{}), over: make(chan struct{})}
	t.opened <- rd
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/event-stream"}},
		Body:    io.NopCloser(rd),
		Request: r, ContentLength: -1,
	}, nil
}

// turnReads is an answer's body: a read tells ready and takes its event
// once the gate opens, until the call is over; the end comes without a
// turn.
type turnReads struct {
	rest              []byte
	ready, gate, over chan struct{}
}

func (r *turnReads) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		return 0, io.EOF
	}
	select {
	case r.ready <- struct{}{}:
		select {
		case <-r.gate:
		case <-r.over:
		}
	case <-r.over:
	}
	n := bytes.Index(r.rest, []byte("\n\n")) + 2
	if n < 2 {
		n = len(r.rest)
	}
	n = copy(p, r.rest[:n])
	r.rest = r.rest[n:]
	return n, nil
}
