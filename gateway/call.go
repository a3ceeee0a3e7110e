// Package gateway is the middle of Runnel's pipeline: it admits a call
// (auth, limits, credits through an Accountant), routes it to a provider,
// wraps the provider's stream in the pipeline controls and meters it
// (usage, cost, latency, the call record).
//
// The gateway imports no dialect: dialect servers call it, and provider
// construction from config happens in package config.
package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/stream"
)

// Call is a started call. Dialect servers read its events with Recv until
// io.EOF, then Close it. Close must always be called: it ends the upstream
// work and, for a call that ended early, hands its record to the Accountant.
type Call struct {
	stream.Stream
	ID       string    // unique call id, also used as the response id
	Provider string    // provider that serves the call: "openai", "ollama", "engine", "mock", …
	Model    string    // the model as that provider knows it
	Started  time.Time // when the gateway accepted the call
	// Request is the call's request as admitted (the default model
	// filled in); nil for calls not made by Gateway.Start. A caller
	// done with it (the resumption layer, once it has logged it) sets it
	// to nil, so that an open stream does not keep a long prompt.
	Request *stream.Request
	// FlushOnWait says that Recv waits for nothing but the serving
	// provider's source, and that the provider calls the context's
	// stream.BeforeWait function before each such wait: a dialect may
	// then write events unflushed and flush in that function, without
	// ever holding an event back.
	FlushOnWait bool

	summary func() Summary
	m       *meter // or summary
}

// NewCall is for gateway implementations and tests.
func NewCall(s stream.Stream, id, provider, model string, started time.Time, summary func() Summary) *Call {
	return &Call{Stream: s, ID: id, Provider: provider, Model: model, Started: started, summary: summary}
}

// Summary is what a call amounted to. It is complete once Recv has returned
// io.EOF; before that it holds the figures so far.
type Summary struct {
	Usage    stream.Usage
	Cost     Cost
	Warnings []string // e.g. rate-limit warnings at 80% of a limit
	TTFT     time.Duration
}

// Summary returns the call's usage, cost and warnings.
func (c *Call) Summary() Summary {
	switch {
	case c.m != nil:
		return c.m.summary()
	case c.summary != nil:
		return c.summary()
	}
	return Summary{}
}

// Cost of a call in the price table's currency (USD by convention).
type Cost struct {
	Input  float64
	Output float64
	Total  float64
}

// Record is everything kept about one call. The gateway hands it to the
// Accountant once, when the call ends, whatever way it ended.
type Record struct {
	ID string
	// Request is the call's request as admitted. Without an Admission
	// to record it, it is nil when the gateway could count the prompt
	// as the call started (LengthCounter) and let go of it then.
	Request   *stream.Request
	Provider  string
	Model     string
	Output    string // the output channel, joined, as far as it got
	Thinking  string
	ToolCalls []stream.ToolCall
	Usage     stream.Usage
	Cost      Cost
	Started   time.Time
	TTFT      time.Duration // 0 when no content arrived
	Duration  time.Duration
	Finish    stream.FinishReason
	// Status is "ok", "error", "cancelled" or "timeout".
	Status string
	Err    *stream.Error
}

// Accountant admits calls and records them. Package account implements it;
// a nil Accountant admits everything and records nothing.
type Accountant interface {
	// Admit checks auth, rate limits, budgets and credits for a call before
	// any upstream work starts. The caller's identity travels in ctx. An
	// error is returned as an *stream.Error (unauthorized, rate_limited with
	// RetryAfter, insufficient_credits, …).
	Admit(ctx context.Context, req *stream.Request) (Admission, error)
}

// Admission is an admitted call.
type Admission interface {
	// Warnings to show in the call's final event.
	Warnings() []string
	// Done receives the call's record exactly once: when the stream ends,
	// before the dialect writes its final bytes (so a record stored
	// synchronously here is durable before the client sees the call end),
	// or on Close for a call that ended early (client gone, error). It is
	// never on the per-token path.
	Done(rec *Record)
}

// A request's texts may be views of memory its dialect wants back once
// nothing reads them (dialect.DecodeJSONPooled: the client's body, from
// a pool), sooner than the collector would free it: in a burst of
// long-prompt calls, a body made afresh per call is the largest garbage
// a call leaves (docs/benchmarks.md, issue 13, bodypool session). The
// contract, one owner at a time:
//   - the dialect offers the memory with WithRequestMemory on the
//     context it starts the call with, and reads the request's texts no
//     more once Start is called (nor logs the request: a resumable call
//     offers nothing);
//   - the gateway passes it on to the provider only when nothing else it
//     started reads the request later: no Admission (whose record keeps
//     it), no continuation, the prompt counted by its length before the
//     provider starts (LengthCounter), no provider tokenizer;
//   - a provider calls RequestEncoded, within its Stream, once it reads
//     the request no more (the upstream body encoded), which gives the
//     memory back, once; the offer ends when Start returns (an open
//     stream holds no reference to the memory either way);
//   - a provider that may start another with the same request (Fallback)
//     calls KeepRequest first, and the memory is never given back.
// With the memory given back, Call.Request and the record's Request are
// nil.

// Releaser gives back the memory a request's texts are views of.
type Releaser interface{ Release() }

type memoryKey struct{}

// WithRequestMemory returns ctx offering r, the memory of the texts of
// the request about to be started in ctx, for the gateway to give back
// as the contract above says.
func WithRequestMemory(ctx context.Context, r Releaser) context.Context {
	return &memoryCtx{Context: ctx, mem: requestMemory{r: r}}
}

// memoryCtx is WithRequestMemory's context, and the offer's state (in
// the one allocation). The call's context, held for the whole stream,
// has it for a parent: Start lets go of r in it, which would otherwise
// keep the memory (or, given back, the pool's buffer that the next call
// reuses) for as long.
type memoryCtx struct {
	context.Context
	mem requestMemory
}

func (c *memoryCtx) Value(key any) any {
	if key == (memoryKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// RequestEncoded is for providers: it tells the gateway that the
// provider no longer reads the request it was given, which may give the
// request's memory back. Call it once the upstream request is encoded,
// never before.
func RequestEncoded(ctx context.Context) {
	if m, _ := ctx.Value(memoryKey{}).(*requestMemory); m != nil && m.state.CompareAndSwap(memoryOffered, memoryReleased) {
		r := m.r
		m.r = nil // the winner of the state's change owns r
		r.Release()
	}
}

// KeepRequest is for providers that may pass the same request to more
// than one Stream (a fallback chain): the request's memory is not given
// back.
func KeepRequest(ctx context.Context) {
	if m, _ := ctx.Value(memoryKey{}).(*requestMemory); m != nil {
		m.withdraw()
	}
}

// requestMemory is a call's offered memory (in its memoryCtx), which
// the provider's context answers for memoryKey (callCtx.mem) once the
// gateway offers it to the provider.
type requestMemory struct {
	r      Releaser
	model  string // the prompt's count, on model, made before the offer
	prompt int
	state  atomic.Int32
}

const (
	memoryOffered = iota
	memoryReleased
	memoryKept
)

// withdraw ends the offer, if still open: the memory is not given back,
// and the offer lets go of it (the call's context, which holds the
// offer, is held for the whole stream; the memory is the collector's to
// free with the request).
func (m *requestMemory) withdraw() {
	if m.state.CompareAndSwap(memoryOffered, memoryKept) {
		m.r = nil
	}
}

// offerMemory offers the memory the dialect offered (if any) to the
// provider, when nothing but the provider reads the request: the prompt
// counted now, while its texts are there. Called just before the
// provider's stream opens.
func (cs *callState) offerMemory(g *Gateway) {
	mc, _ := cs.ctx.Context.Value(memoryKey{}).(*memoryCtx)
	if mc == nil || mc.mem.r == nil || mc.mem.state.Load() != memoryOffered {
		return
	}
	m := &mc.mem
	if n, ok := cs.countForOffer(g); ok {
		m.model, m.prompt = cs.sv.model, n
		cs.ctx.mem = m
		return
	}
	m.withdraw() // the collector's, with the request
}

// countForOffer counts the prompt for offerMemory when nothing but the
// provider reads the request later.
func (cs *callState) countForOffer(g *Gateway) (int, bool) {
	if cs.m.adm != nil || cs.cont != nil || tokenCounter(cs.sv.p) != nil {
		return 0, false
	}
	if _, chain := cs.sv.p.(*Fallback); chain {
		return 0, false
	}
	l, ok := g.opts.Counter.(LengthCounter)
	if !ok {
		return 0, false
	}
	return l.CountPrompt(cs.sv.model, cs.m.rec.Request)
}

// letGoOfRequest sets the meter's prompt count and lets its record go of
// the request where it may (meter.letGoOfRequest): with the memory given
// back, by the count made before; and says whether the memory was given
// back.
func (cs *callState) letGoOfRequest() (released bool) {
	m, mem := &cs.m, cs.ctx.mem
	m.prompt = -1
	if mem != nil {
		mem.withdraw()
	}
	if mem != nil && mem.state.Load() == memoryReleased {
		// The texts are gone: the count made before the offer is the
		// prompt's (Fallback keeps the memory, so the model served is
		// the one counted).
		m.prompt, m.rec.Request = mem.prompt, nil
		return true
	}
	if m.adm == nil {
		if mem != nil && mem.model == m.rec.Model {
			m.prompt, m.rec.Request = mem.prompt, nil
		} else {
			m.letGoOfRequest()
		}
	}
	return false
}
