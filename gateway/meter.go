package gateway

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	g      *Gateway
	in     stream.Stream
	cancel context.CancelFunc
	adm    Admission
	prices *Price
	tc     TokenCounter  // the serving provider's tokenizer, or nil
	tokens TokenObserver // the Observer's, for this call; or nil
	// beforeWait is the call's stream.BeforeWait function, or nil: the
	// record's hand-over to the Admission may take time (a journal write,
	// a transaction), so what the dialect wrote unflushed goes out first.
	// Without an Admission the hand-over is the Observer's, which must be
	// cheap: the dialect's last events then leave with the rest, in one
	// write.
	beforeWait func()

	// settled is set, under mu, once Recv has more to do than read the
	// next event: an event queued, the stream ended or closed. Until then
	// Recv need not take mu to find out.
	settled   atomic.Bool
	mu        sync.Mutex // Recv's updates against Close and Summary
	rec       Record
	out, tho  strings.Builder
	usage     *stream.Usage
	last      time.Time // last content event
	warnings  []string
	queued    [1]stream.Event // the end event held behind an estimated usage
	nq        int
	ended     bool // the stream's end was seen; rec is final
	closed    bool
	closeOnce sync.Once
	deliver   sync.Once
}

func (m *meter) Recv() (stream.Event, error) {
	if m.settled.Load() {
		if ev, err, ok := m.settledRecv(); ok {
			return ev, err
		}
	}
	ev, err := m.in.Recv()
	return m.observe(&ev, err)
}

// settledRecv is what Recv returns once settled: the queued event, or
// io.EOF after the end; ok is false when the next event is still to be
// read.
//
//go:noinline
func (m *meter) settledRecv() (stream.Event, error, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nq > 0 {
		m.nq = 0
		return m.queued[0], nil, true
	}
	if m.ended || m.closed {
		return stream.Event{}, io.EOF, true
	}
	return stream.Event{}, nil, false
}

// observe records what Recv received. Out of line, so that its locals are
// no part of Recv's frame, which stays on an open stream's goroutine stack
// while the upstream is silent (see logRequest in server).
//
//go:noinline
func (m *meter) observe(evp *stream.Event, err error) (stream.Event, error) {
	now := time.Now()
	ev := *evp
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return stream.Event{}, io.EOF
	}
	if err != nil {
		m.end(now)
		m.mu.Unlock()
		if m.beforeWait != nil && m.adm != nil {
			m.beforeWait()
		}
		m.handOver()
		return stream.Event{}, io.EOF
	}
	defer m.mu.Unlock()
	switch ev.Kind {
	case stream.KindDelta:
		m.token(now)
		if ev.Channel == stream.Thinking {
			m.tho.WriteString(ev.Text)
		} else {
			m.out.WriteString(ev.Text)
		}
	case stream.KindToolCall:
		m.token(now)
		m.rec.ToolCalls = stream.MergeToolCall(m.rec.ToolCalls, *ev.ToolCall)
	case stream.KindUsage:
		u := *ev.Usage
		m.usage = &u
	case stream.KindError:
		m.rec.Err = ev.Err
		if m.usage == nil {
			return m.estimate(ev), nil
		}
	case stream.KindFinish:
		m.rec.Finish = ev.Finish
		if m.usage == nil {
			return m.estimate(ev), nil
		}
	}
	return ev, nil
}

// token times a content event.
func (m *meter) token(now time.Time) {
	if m.last.IsZero() {
		m.rec.TTFT = now.Sub(m.rec.Started)
		if m.tokens != nil {
			m.tokens.FirstToken(m.rec.TTFT)
		}
	} else if m.tokens != nil {
		m.tokens.TokenGap(now.Sub(m.last))
	}
	m.last = now
}

// estimate counts the usage the provider did not report, and returns it as
// an event to send before ev, which it queues.
func (m *meter) estimate(ev stream.Event) stream.Event {
	m.queued[0], m.nq = ev, 1
	m.settled.Store(true)
	u := m.estimated()
	m.usage = &u
	return stream.UsageEvent(u)
}

func (m *meter) estimated() stream.Usage {
	return estimator{tc: m.tc, c: m.g.opts.Counter, model: m.rec.Model}.usage(m.rec.Request, m.out.String(), m.tho.String(), m.rec.ToolCalls)
}

// end finalises the record. Called with mu held, once.
func (m *meter) end(now time.Time) {
	if m.ended {
		return
	}
	m.ended = true
	m.settled.Store(true)
	r := &m.rec
	r.Duration = now.Sub(r.Started)
	r.Output, r.Thinking = m.out.String(), m.tho.String()
	if r.Finish == "" { // closed before the end
		r.Finish = stream.FinishCancelled
	}
	if m.usage == nil {
		// Even a call cancelled before its first token had its prompt
		// read upstream.
		u := m.estimated()
		m.usage = &u
	}
	if m.usage != nil {
		r.Usage = *m.usage
	}
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
		m.end(time.Now())
		m.mu.Unlock()
		m.handOver()
	})
	return nil
}

// handOver gives the final record to the Observer and the Admission, once.
// Called without mu held: Done may write to a database.
func (m *meter) handOver() {
	m.deliver.Do(func() {
		m.mu.Lock()
		rec := m.rec
		m.mu.Unlock()
		if obs := m.g.opts.Observer; obs != nil {
			obs.CallEnded(&rec)
		}
		if m.adm != nil {
			m.adm.Done(&rec)
		}
	})
}

func (m *meter) summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{Warnings: m.warnings, TTFT: m.rec.TTFT}
	if m.usage != nil {
		s.Usage = *m.usage
	}
	if m.prices != nil {
		s.Cost = CostOf(s.Usage, *m.prices)
	}
	return s
}
