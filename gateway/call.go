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
