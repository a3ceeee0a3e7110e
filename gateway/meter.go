package gateway

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/runnel/runnel/internal/monotime"
	"github.com/runnel/runnel/internal/prefetch"
	"github.com/runnel/runnel/stream"
)

// meter wraps a call's controlled stream. On the way through it times the
// tokens for the Observer, joins the content for the Record and captures
// the usage; a stream that ends without usage gets an estimate just before
// its end. The record is complete at the end of the stream and handed to
// the Admission and the Observer exactly once: when the stream ends, before
// Recv reports io.EOF, so the record is stored before the dialect writes
// its last bytes and the client sees the call end (and the connection is
// free for its next call at once); or on Close, for a call that ended early.
type meter struct {
	// tin first: in the call's state it then shares a cache line with
	// what a token reads of the text controls it points to (callState).
	tin    stream.TokenStream // in's token path, once Call.TokenStream found it
	g      *Gateway
	in     stream.Stream
	cancel context.CancelFunc
	adm    Admission
	prices *Price
	tc     TokenCounter  // the serving provider's tokenizer, or nil
	tokens TokenObserver // the Observer's, for this call; or nil
	// beforeWait is the call's stream.BeforeWait Waiter, or nil: the
	// record's hand-over to the Admission may take time (a journal write,
	// a transaction), so what the dialect wrote unflushed goes out first.
	// Without an Admission the hand-over is the Observer's, which must be
	// cheap: the dialect's last events then leave with the rest, in one
	// write.
	beforeWait stream.Waiter

	// settled is set, under mu, once Recv has more to do than read the
	// next event: an event queued, the stream ended or closed. Until then
	// Recv need not take mu to find out.
	settled atomic.Bool

	// prompt is the prompt's estimated count, taken when the call
	// started, when the record lets go of its request then (see
	// letGoOfRequest); -1 otherwise.
	prompt int

	// seen is when the latest event came, since rec.Started (EventClock).
	// Recv's goroutine's alone, as base is: it writes it, and the only
	// reader is the sse.Writer it flushes on that goroutine (SetClock's
	// contract). A plain store, where an atomic one is an XCHG, a locked
	// instruction, a token.
	seen time.Duration
	// base is the runtime clock's reading at rec.Started, found at the
	// first event's reading (firstSince), from which Recv's goroutine
	// reads the time since then (monotime.Now() - base) where
	// time.Since's frames cost ~45 instructions a token; 0 before, and
	// for a start without a monotonic reading.
	base int64

	mu       sync.Mutex // Recv's updates against Close and Summary
	rec      Record
	out, tho textBuf
	usage    stream.Usage // when hasUsage
	hasUsage bool
	// last is when the last content event came, since rec.Started; set
	// when hasLast. The meter's times are all read as durations since
	// rec.Started: one monotonic clock reading an event (since),
	// where a time.Now reads the wall clock as well.
	last      time.Duration
	hasLast   bool
	warnings  []string
	queued    [1]stream.Event // the end event held behind an estimated usage
	nq        int
	ended     bool // the stream's end was seen; rec is final
	closed    bool
	closeOnce sync.Once
	deliver   sync.Once
}

// Recv's helpers write the event in place: each Event returned by value
// is 80 bytes copied, and the copies were most of Recv's code.
func (m *meter) Recv() (ev stream.Event, err error) {
	if m.settled.Load() && m.settledRecv(&ev, &err) {
		return ev, err
	}
	ev, err = m.in.Recv()
	if err == nil && ev.Kind == stream.KindDelta {
		// A token: what observe does with it, from its two fields.
		if m.delta(ev.Channel, ev.Text) {
			return ev, nil
		}
		return stream.Event{}, io.EOF
	}
	err = m.observe(&ev, err)
	return ev, err
}

// RecvToken is Recv for a token of the controls' token path
// (stream.TokenStream): timed and kept as Recv's delta does. Once
// settled (something queued, the end or Close) it reads nothing: Recv
// returns what comes next. Only for a meter whose in has a token path
// (Call.TokenStream).
//
// A token under way (the clock's base found, the first token timed, room
// for the text) is delta's work in a short straight run here; the rest
// is delta's, out of line: the code a token runs stays in few
// instruction-cache lines (docs/benchmarks.md, issue 13, tokfoot
// session).
func (m *meter) RecvToken() (string, bool) {
	if m.settled.Load() {
		return "", false
	}
	text, ok := m.tin.RecvToken()
	if !ok {
		return "", false
	}
	if m.base == 0 {
		return text, m.delta(stream.Output, text) // closed: Recv's settled path ends the stream
	}
	now := time.Duration(monotime.Now() - m.base) // since(), by hand
	m.seen = now
	m.mu.Lock()
	if n := len(m.out); m.closed || !m.hasLast || cap(m.out)-n < len(text) {
		return text, m.deltaLocked(stream.Output, text, now)
	}
	if m.tokens != nil {
		m.tokens.TokenGap(now - m.last)
	}
	m.last = now
	// The text copied into the room it has: the slice's length alone
	// changes (no pointer stored, no write barrier).
	n := len(m.out)
	m.out = m.out[:n+len(text)]
	copy(m.out[n:], text)
	m.mu.Unlock()
	return text, true
}

// TokenStream is the call's stream when it has a token path of its own
// (stream.TokenStream), or nil: a dialect reads the call's plain tokens
// through it, and everything else through Recv. The meter has one when
// the controls under it do.
func (c *Call) TokenStream() stream.TokenStream {
	m := c.m
	if m == nil || c.Stream != stream.Stream(m) {
		// Not metered, or the call's stream is another's now (a
		// resumable call's): that one's, if it has one.
		t, _ := c.Stream.(stream.TokenStream)
		return t
	}
	if m.tin == nil {
		t, ok := m.in.(stream.TokenStream)
		if !ok {
			return nil
		}
		m.tin = t
	}
	return m
}

// delta is observe for a delta of text on channel ch; false when the
// meter is closed. Out of line, as observe is.
//
//go:noinline
func (m *meter) delta(ch stream.Channel, text string) bool {
	now := m.since()
	m.seen = now
	m.mu.Lock()
	return m.deltaLocked(ch, text, now)
}

// deltaLocked is delta's work after the lock, now being the token's
// time; it unlocks mu.
//
//go:noinline
func (m *meter) deltaLocked(ch stream.Channel, text string, now time.Duration) bool {
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.token(now)
	// One WriteString for both channels: each is inlined code.
	b := &m.out
	if ch == stream.Thinking {
		b = &m.tho
	} else if cap(m.out) == 0 {
		// An answer's first token: room for about ten, so that a
		// stream's text grows in four allocations, not seven.
		m.out = make(textBuf, 0, 64)
	}
	b.WriteString(text)
	m.mu.Unlock()
	return true
}

// since is the time since rec.Started, for Recv's goroutine.
func (m *meter) since() time.Duration {
	if m.base != 0 {
		return time.Duration(monotime.Now() - m.base)
	}
	return m.firstSince()
}

// firstSince is the time since rec.Started by time.Since, and finds base
// from it (out of line: once a call).
//
//go:noinline
func (m *meter) firstSince() time.Duration {
	d, base := monotime.Since(m.rec.Started)
	m.base = base
	return d
}

// textBuf is a stream's text as it comes: a strings.Builder without its
// check for a copy (~8 instructions a token): a meter is never copied.
type textBuf []byte

func (t *textBuf) WriteString(s string) { *t = append(*t, s...) }

// String is the text so far, which later writes leave as it is.
func (t textBuf) String() string { return unsafe.String(unsafe.SliceData(t), len(t)) }

// EventClock returns where the meter keeps when the call's latest event
// came, since Started, as it read the clock for it (sse.Writer.SetClock):
// a writer of the call's events, on the goroutine that reads them, need
// not read the clock again for the same token. Nil for a call the gateway
// does not meter. For the goroutine that reads the call's events alone,
// which writes it in Recv.
func (c *Call) EventClock() *time.Duration {
	if c.m == nil {
		return nil
	}
	return &c.m.seen
}

// settledRecv sets what Recv returns once settled: the queued event, or
// io.EOF after the end; false when the next event is still to be read.
//
//go:noinline
func (m *meter) settledRecv(ev *stream.Event, err *error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nq > 0 {
		m.nq = 0
		*ev = m.queued[0]
		return true
	}
	if m.ended || m.closed {
		*err = io.EOF
		return true
	}
	return false
}

// observe records what Recv received, *evp, and sets what Recv returns
// in its place. Out of line, so that its locals are no part of Recv's
// frame, which stays on an open stream's goroutine stack while the
// upstream is silent (see logRequest in server).
//
//go:noinline
func (m *meter) observe(evp *stream.Event, err error) error {
	now := m.since()
	m.seen = now
	ev := *evp
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		*evp = stream.Event{}
		return io.EOF
	}
	if err != nil {
		m.end(now)
		m.mu.Unlock()
		if m.beforeWait != nil && m.adm != nil {
			m.beforeWait.BeforeWait()
		}
		m.handOver()
		*evp = stream.Event{}
		return io.EOF
	}
	defer m.mu.Unlock()
	switch ev.Kind {
	case stream.KindToolCall:
		m.token(now)
		m.rec.ToolCalls = stream.MergeToolCall(m.rec.ToolCalls, *ev.ToolCall)
	case stream.KindUsage:
		m.usage, m.hasUsage = *ev.Usage, true
	case stream.KindError:
		m.rec.Err = ev.Err
		if !m.hasUsage {
			*evp = m.estimate(ev)
		}
	case stream.KindFinish:
		m.rec.Finish = ev.Finish
		if !m.hasUsage {
			*evp = m.estimate(ev)
		}
	}
	return nil
}

// token times a content event that came now (since rec.Started).
func (m *meter) token(now time.Duration) {
	if !m.hasLast {
		m.firstToken(now)
	} else if m.tokens != nil {
		m.tokens.TokenGap(now - m.last)
	}
	m.last = now
}

// firstToken times the first content event (out of line: once a call).
//
//go:noinline
func (m *meter) firstToken(now time.Duration) {
	m.rec.TTFT, m.hasLast = now, true
	if m.tokens != nil {
		m.tokens.FirstToken(now)
	}
}

// estimate counts the usage the provider did not report, and returns it as
// an event to send before ev, which it queues.
func (m *meter) estimate(ev stream.Event) stream.Event {
	m.queued[0], m.nq = ev, 1
	m.settled.Store(true)
	m.usage, m.hasUsage = m.estimated(), true
	return stream.UsageEvent(m.usage)
}

func (m *meter) estimated() stream.Usage {
	u := estimator{tc: m.tc, c: m.g.opts.Counter, model: m.rec.Model}.usage(m.rec.Request, m.out.String(), m.tho.String(), m.rec.ToolCalls)
	if m.prompt >= 0 {
		u.PromptTokens = m.prompt
	}
	return u
}

// letGoOfRequest counts the prompt now, if its count is its length's
// (LengthCounter), and lets the record go of the request: called once
// the provider's stream has started, when no fallback can send the
// request again, for a call whose record nobody keeps the request of
// (no Accountant). The decoded request, whose messages are as long as
// the prompt, was kept for the whole stream only for the estimate a
// call without reported usage gets at its end (docs/benchmarks.md,
// issue 13, longprompt session). A provider with its own tokenizer
// (TokenCounter), or a model counted by tokenizer, keeps it: counting
// every prompt at the start would cost more than keeping it.
func (m *meter) letGoOfRequest() {
	l, ok := m.g.opts.Counter.(LengthCounter)
	if !ok || m.tc != nil || m.rec.Request == nil {
		return
	}
	if n, ok := l.CountPrompt(m.rec.Model, m.rec.Request); ok {
		m.prompt, m.rec.Request = n, nil
	}
}

// end finalises the record, now being the time since rec.Started.
// Called with mu held, once.
func (m *meter) end(now time.Duration) {
	if m.ended {
		return
	}
	m.ended = true
	m.settled.Store(true)
	r := &m.rec
	r.Duration = now
	r.Output, r.Thinking = m.out.String(), m.tho.String()
	if r.Finish == "" { // closed before the end
		r.Finish = stream.FinishCancelled
	}
	if !m.hasUsage {
		// Even a call cancelled before its first token had its prompt
		// read upstream.
		m.usage, m.hasUsage = m.estimated(), true
	}
	r.Usage = m.usage
	if m.prices != nil {
		r.Cost = CostOf(r.Usage, *m.prices)
	}
	switch {
	case r.Finish == stream.FinishCancelled:
		r.Status = "cancelled"
	case r.Err != nil && r.Err.Code == stream.CodeTimeout:
		r.Status = "timeout"
	case r.Err != nil || r.Finish == stream.FinishError:
		r.Status = "error"
	default:
		r.Status = "ok"
	}
	m.cancel()
}

// Close ends the call: it cancels the upstream work, and hands the record
// to the Observer and the Admission. It is safe to call more than once and
// concurrently with Recv.
func (m *meter) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		m.in.Close()
		m.mu.Lock()
		m.closed = true
		m.settled.Store(true)
		m.end(time.Since(m.rec.Started))
		m.mu.Unlock()
		m.handOver()
	})
	return nil
}

// handOver gives the final record to the Observer and the Admission, once.
// Called without mu held: Done may write to a database. The record is
// final (end ran, and nothing writes it after), so they get the meter's
// own, not a copy.
func (m *meter) handOver() {
	m.deliver.Do(func() {
		if obs := m.g.opts.Observer; obs != nil {
			obs.CallEnded(&m.rec)
		}
		if m.adm != nil {
			m.adm.Done(&m.rec)
		}
	})
}

func (m *meter) summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{Warnings: m.warnings, TTFT: m.rec.TTFT}
	if m.hasUsage {
		s.Usage = m.usage
	}
	if m.prices != nil {
		s.Cost = CostOf(s.Usage, *m.prices)
	}
	return s
}

// Prefetch brings the lines of the call's state that a token reads and
// writes into the cache (package prefetch): what a token reads
// of the text controls, and the meter's token fields. A dialect calls it
// when the call's stream wakes (sse.AfterWaiter). The state is found
// from c itself, which it holds, so that the prefetches need not wait
// for a load of c's cold line; c.m, which must agree, is checked
// meanwhile.
func (c *Call) Prefetch() {
	if cs := c.stateAddr(); cs != 0 {
		prefetch.Fields(cs, tokenFields)
	}
}

// stateAddr is the address of the call's state holding c, or 0 for a call
// outside one (a copy, or a call without a meter).
func (c *Call) stateAddr() uintptr {
	cs := uintptr(unsafe.Pointer(c)) - unsafe.Offsetof(callState{}.call)
	if uintptr(unsafe.Pointer(c.m)) != cs+unsafe.Offsetof(callState{}.m) {
		return 0
	}
	return cs
}

// tokenFields are the offsets in a callState of what a token's
// RecvToken reads or writes, in increasing order: the text controls'
// token fields (their last 48 bytes) and the meter's.
var tokenFields = func() []uint16 {
	var cs callState
	m := unsafe.Offsetof(cs.m)
	return prefetch.Offsets(m-48, m-1, m+unsafe.Offsetof(cs.m.tin), m+unsafe.Offsetof(cs.m.tokens),
		m+unsafe.Offsetof(cs.m.settled), m+unsafe.Offsetof(cs.m.seen), m+unsafe.Offsetof(cs.m.base),
		m+unsafe.Offsetof(cs.m.mu), m+unsafe.Offsetof(cs.m.out), m+unsafe.Offsetof(cs.m.last),
		m+unsafe.Offsetof(cs.m.hasLast), m+unsafe.Offsetof(cs.m.closed))
}()
