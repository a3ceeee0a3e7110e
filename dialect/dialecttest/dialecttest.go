// Package dialecttest provides a scripted dialect.Gateway for testing dialect
// servers without the real gateway: each call replays a fixed list of events
// and the requests the servers decoded are kept for assertions.
package dialecttest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// Gateway is a dialect.Gateway whose calls replay Events (or the stream
// returned by Provider, when set).
type Gateway struct {
	// Events every call replays, unless Provider is set.
	Events []stream.Event
	// Provider, when set, serves calls instead of Events.
	Provider stream.Provider
	// Err, when set, is returned by Start (an error before the first token).
	Err error
	// ProviderName is the Call's Provider ("mock" if empty).
	ProviderName string
	// ModelList is what Models returns.
	ModelList []gateway.ModelInfo
	// Price, per million tokens, for the summary's cost.
	Price gateway.Price
	// Warnings for the summary.
	Warnings []string

	mu       sync.Mutex
	requests []*stream.Request
	n        atomic.Int64
	closed   atomic.Int64
}

// Start implements dialect.Gateway.
func (g *Gateway) Start(ctx context.Context, req *stream.Request) (*gateway.Call, error) {
	g.mu.Lock()
	g.requests = append(g.requests, req.Clone())
	g.mu.Unlock()
	if g.Err != nil {
		return nil, g.Err
	}
	var s stream.Stream
	if g.Provider != nil {
		var err error
		if s, err = g.Provider.Stream(ctx, req); err != nil {
			return nil, err
		}
	} else {
		s = stream.Slice(append([]stream.Event(nil), g.Events...)...)
	}
	name := g.ProviderName
	if name == "" {
		name = "mock"
	}
	m := &meter{Stream: s, g: g}
	id := fmt.Sprintf("call_%d", g.n.Add(1))
	return gateway.NewCall(m, id, name, req.Model, time.Now(), m.summary), nil
}

// Models implements dialect.Gateway.
func (g *Gateway) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	return g.ModelList, nil
}

// Requests returns the requests Start received, in order.
func (g *Gateway) Requests() []*stream.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*stream.Request(nil), g.requests...)
}

// Closed returns how many calls were closed.
func (g *Gateway) Closed() int { return int(g.closed.Load()) }

type meter struct {
	stream.Stream
	g     *Gateway
	mu    sync.Mutex
	usage stream.Usage
	once  sync.Once
}

func (m *meter) Recv() (stream.Event, error) {
	ev, err := m.Stream.Recv()
	if err == nil && ev.Kind == stream.KindUsage {
		m.mu.Lock()
		m.usage = *ev.Usage
		m.mu.Unlock()
	}
	return ev, err
}

func (m *meter) Close() error {
	m.once.Do(func() { m.g.closed.Add(1) })
	return m.Stream.Close()
}

func (m *meter) summary() gateway.Summary {
	m.mu.Lock()
	u := m.usage
	m.mu.Unlock()
	in := float64(u.PromptTokens) * m.g.Price.InputPerMillion / 1e6
	out := float64(u.CompletionTokens) * m.g.Price.OutputPerMillion / 1e6
	return gateway.Summary{
		Usage:    u,
		Cost:     gateway.Cost{Input: in, Output: out, Total: in + out},
		Warnings: m.g.Warnings,
	}
}

// Text returns output deltas for each piece of text.
func Text(parts ...string) []stream.Event {
	evs := make([]stream.Event, len(parts))
	for i, p := range parts {
		evs[i] = stream.Delta(p)
	}
	return evs
}

// Script joins event lists into one.
func Script(lists ...[]stream.Event) []stream.Event {
	var out []stream.Event
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Blocking is a provider whose stream emits Events, then blocks until the
// stream is closed or ctx is done; Cancelled reports that it was released.
type Blocking struct {
	Events    []stream.Event
	Cancelled chan struct{}
}

// NewBlocking returns a Blocking provider.
func NewBlocking(evs ...stream.Event) *Blocking {
	return &Blocking{Events: evs, Cancelled: make(chan struct{}, 16)}
}

// Stream implements stream.Provider.
func (b *Blocking) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return stream.Go(ctx, 1, func(ctx context.Context, emit func(stream.Event) bool) error {
		for _, ev := range b.Events {
			if !emit(ev) {
				break
			}
		}
		<-ctx.Done()
		b.Cancelled <- struct{}{}
		return ctx.Err()
	}), nil
}

// ToolCall returns a tool-call delta event.
func ToolCall(d stream.ToolCallDelta) stream.Event {
	return stream.Event{Kind: stream.KindToolCall, ToolCall: &d}
}

// Serve starts a test server with the routes register adds, closed when the
// test ends.
func Serve(t testing.TB, register func(mux *http.ServeMux)) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

// Post posts a JSON body; the response body is closed when the test ends.
func Post(t testing.TB, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Discard is an http.ResponseWriter and http.Flusher that counts and drops
// what is written, for benchmarks of encoders.
type Discard struct {
	H       http.Header
	Bytes   int
	Flushes int
}

func (d *Discard) Header() http.Header {
	if d.H == nil {
		d.H = http.Header{}
	}
	return d.H
}
func (d *Discard) Write(p []byte) (int, error) { d.Bytes += len(p); return len(p), nil }
func (d *Discard) WriteHeader(int)             {}
func (d *Discard) Flush()                      { d.Flushes++ }
