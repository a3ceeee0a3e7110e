package control

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/stream"
)

// Timeouts returns a Provider whose streams end when one of t's limits is
// exceeded:
//
//   - FirstToken: from the call to Stream to the first content event
//     (a delta or a tool call); it covers waiting for the upstream's headers;
//   - Idle: the time Recv waits for the next content event after the first;
//     time the reader spends elsewhere is not counted, so a slow client never
//     trips it;
//   - Total: the whole stream, from the call to Stream.
//
// When a limit fires, the inner stream is closed and its context cancelled
// (which stops the upstream work), and the stream ends with an Error event
// (stream.CodeTimeout, naming the limit and its value) then Finish(error).
// Before the inner Stream returned, the same error is returned by Stream.
// Zero limits are off; with all three off Timeouts returns p.
func Timeouts(p stream.Provider, t stream.Timeouts) stream.Provider {
	if t.FirstToken <= 0 && t.Idle <= 0 && t.Total <= 0 {
		return p
	}
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		ctx, cancel := context.WithCancelCause(ctx)
		s := &timeoutStream{cancel: cancel, limits: t, base: time.Now()}
		s.waitStart.Store(-1)
		if t.FirstToken > 0 {
			s.first = time.AfterFunc(t.FirstToken, func() { s.fire(firstTokenTimeout) })
		}
		if t.Total > 0 {
			s.total = time.AfterFunc(t.Total, func() { s.fire(totalTimeout) })
		}
		if t.Idle > 0 {
			// Started at the first token; see checkIdle.
			s.idle = time.AfterFunc(t.Idle, s.checkIdle)
			s.idle.Stop()
		}
		in, err := p.Stream(ctx, req)
		if err != nil {
			s.stopTimers()
			if e := s.err(); e != nil {
				return nil, e
			}
			return nil, err
		}
		s.mu.Lock()
		s.in = in
		s.mu.Unlock()
		if s.fired.Load() != 0 {
			in.Close()
		}
		if tin, ok := in.(stream.TokenStream); ok {
			s.tin = tin
			return (*tokenTimeouts)(s), nil
		}
		return s, nil
	})
}

type timeoutKind int32

const (
	firstTokenTimeout timeoutKind = iota + 1
	idleTimeout
	totalTimeout
)

var errTimeout = errors.New("control: stream timeout")

type timeoutStream struct {
	limits      stream.Timeouts
	cancel      context.CancelCauseFunc
	first, idle *time.Timer
	total       *time.Timer
	fired       atomic.Int32 // timeoutKind
	mu          sync.Mutex   // guards in, and idle re-arming against stopTimers
	in          stream.Stream
	tin         stream.TokenStream // in's token path, if it has one
	ended       bool               // timers stopped; guarded by mu
	started     bool
	q           queue

	// base and waitStart let the idle timer run lazily instead of being
	// reset on every token: Recv only stores when it started waiting
	// (nanoseconds since base, -1 when not waiting), and the timer, when it
	// fires, checks that and re-arms itself for the remainder.
	base      time.Time
	waitStart atomic.Int64
}

func (s *timeoutStream) checkIdle() {
	next := s.limits.Idle
	if w := s.waitStart.Load(); w >= 0 {
		waited := time.Since(s.base) - time.Duration(w)
		if waited >= s.limits.Idle {
			s.fire(idleTimeout)
			return
		}
		next -= waited
	}
	s.mu.Lock()
	if !s.ended {
		s.idle.Reset(next)
	}
	s.mu.Unlock()
}

func (s *timeoutStream) fire(k timeoutKind) {
	if !s.fired.CompareAndSwap(0, int32(k)) {
		return
	}
	s.cancel(errTimeout)
	s.mu.Lock()
	in := s.in
	s.mu.Unlock()
	if in != nil {
		in.Close()
	}
}

// err returns the error for the timeout that fired, or nil.
func (s *timeoutStream) err() *stream.Error {
	switch timeoutKind(s.fired.Load()) {
	case firstTokenTimeout:
		return stream.Errorf(stream.CodeTimeout, "first-token timeout: no token within %v", s.limits.FirstToken)
	case idleTimeout:
		return stream.Errorf(stream.CodeTimeout, "idle timeout: no token for %v", s.limits.Idle)
	case totalTimeout:
		return stream.Errorf(stream.CodeTimeout, "total timeout: the stream exceeded %v", s.limits.Total)
	}
	return nil
}

func (s *timeoutStream) Recv() (stream.Event, error) {
	if s.q.pending() {
		ev, err, _ := s.q.pop()
		return ev, err
	}
	armed := s.started && s.idle != nil
	if armed {
		s.waitStart.Store(int64(time.Since(s.base)))
	}
	ev, err := s.in.Recv()
	if armed {
		s.waitStart.Store(-1)
	}
	if e := s.err(); e != nil {
		s.timedOut(e)
		ev, err, _ := s.q.pop()
		return ev, err
	}
	if err != nil {
		s.stopTimers()
		return ev, err
	}
	if !s.started && isContent(ev) {
		s.started = true
		if s.first != nil {
			s.first.Stop()
		}
		if s.idle != nil {
			s.mu.Lock()
			if !s.ended {
				s.idle.Reset(s.limits.Idle)
			}
			s.mu.Unlock()
		}
	}
	return ev, nil
}

// timedOut ends the stream with e, what was read dropped.
func (s *timeoutStream) timedOut(e *stream.Error) {
	s.q.push(stream.ErrorEvent(e))
	s.q.push(stream.Finished(stream.FinishError))
	s.q.end()
	s.stopTimers()
}

// tokenTimeouts is a timeoutStream over a stream with a token path: it
// has one too (stream.TokenStream). The same struct, so that the timers'
// functions and the stream are still one allocation.
type tokenTimeouts timeoutStream

// RecvToken is Recv for a token of in's token path, once a content event
// came (stopping the first token's timer is Recv's): the idle wait is
// marked as Recv marks it, and a timeout that fired during it ends the
// stream as in Recv, the token dropped.
func (t *tokenTimeouts) RecvToken() (string, bool) {
	s := (*timeoutStream)(t)
	if !s.started || s.q.pending() {
		return "", false
	}
	armed := s.idle != nil
	if armed {
		s.waitStart.Store(int64(time.Since(s.base)))
	}
	text, ok := s.tin.RecvToken()
	if armed {
		s.waitStart.Store(-1)
	}
	if e := s.err(); e != nil {
		s.timedOut(e)
		return "", false
	}
	return text, ok
}

func (t *tokenTimeouts) Recv() (stream.Event, error)       { return (*timeoutStream)(t).Recv() }
func (t *tokenTimeouts) Close() error                      { return (*timeoutStream)(t).Close() }
func (t *tokenTimeouts) Finish(r stream.FinishReason) bool { return (*timeoutStream)(t).Finish(r) }

func (s *timeoutStream) stopTimers() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	for _, t := range [...]*time.Timer{s.first, s.idle, s.total} {
		if t != nil {
			t.Stop()
		}
	}
	s.cancel(context.Canceled)
}

func (s *timeoutStream) Close() error {
	s.stopTimers()
	return s.in.Close()
}

// Finish forwards to the inner stream; see stream.Finisher.
func (s *timeoutStream) Finish(r stream.FinishReason) bool { return stream.Finish(s.in, r) }
