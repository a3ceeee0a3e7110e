package account

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/runnel/runnel/stream"
)

// Limiter counts requests and tokens per minute for scopes (a key, a
// team). The default is in process; account/redislimit shares the counts
// between processes through Redis.
type Limiter interface {
	// Admit counts one request against every scope, or against none if a
	// limit is reached (then the error says which and when to retry). It
	// returns warnings for limits at 80% or more.
	Admit(ctx context.Context, now time.Time, scopes []Scope) ([]string, *LimitError)
	// AddTokens counts a finished call's tokens.
	AddTokens(ctx context.Context, now time.Time, scopes []Scope, n int64)
}

// Scope is one thing rate limited.
type Scope struct {
	ID     string // "key:ID" or "team:ID" ("count:key:ID"… for token counting, count.go), unique
	Name   string // "key" or "team", for messages
	Limits Limits
}

// LimitError says which limit was reached and when to retry.
// Unavailable means the limits could not be checked at all (a shared
// limiter that fails closed while its backend is down): a 503, not a 429.
type LimitError struct {
	What        string
	RetryAfter  time.Duration
	Unavailable bool
}

// refusal is the error a request refused by e gets: rate_limited (429),
// or overloaded (503) when the limits could not be checked; both with
// RetryAfter.
func (e *LimitError) refusal() *stream.Error {
	if e.Unavailable {
		return &stream.Error{Code: stream.CodeOverloaded, Message: e.What + "; retry in " + e.RetryAfter.String(), RetryAfter: e.RetryAfter}
	}
	return &stream.Error{Code: stream.CodeRateLimited, Message: e.What + " reached; retry in " + e.RetryAfter.String(), RetryAfter: e.RetryAfter}
}

// LimiterStatus is a Limiter's backend and its state, for /readyz and the
// start log: "memory" (per process) or "redis"; State "up", or "down"
// while the shared backend is unreachable.
type LimiterStatus struct {
	Backend string
	State   string
	// FailOpen says whether requests are admitted while it is down.
	FailOpen bool
}

// StatusReporter is implemented by limiters that can say how they are.
type StatusReporter interface {
	Status() LimiterStatus
}

// LimiterStatus returns the service's limiter status ("memory" for the
// in-process one).
func (s *Service) LimiterStatus() LimiterStatus {
	if r, ok := s.lim.(StatusReporter); ok {
		return r.Status()
	}
	return LimiterStatus{Backend: "memory", State: "up", FailOpen: true}
}

// Window is a scope's counts in the current and the previous minute. The
// rate over the last 60 s is the previous minute's count weighted by how
// much of it still overlaps, plus the current minute's: a sliding window.
type Window struct {
	ReqPrev, ReqCur float64
	TokPrev, TokCur float64
}

// Split returns the index of now's minute and how far into it now is (0–1).
func Split(now time.Time) (minute int64, frac float64) {
	ns := now.UnixNano()
	minute = ns / int64(time.Minute)
	return minute, float64(ns%int64(time.Minute)) / float64(time.Minute)
}

// Check decides one request against scopes whose windows (before it) are
// ws, at frac into the minute: a LimitError, or nil and the warnings for
// limits at 80% or more once the request is counted.
func Check(scopes []Scope, ws []Window, frac float64) ([]string, *LimitError) {
	for i, sc := range scopes {
		w := ws[i]
		if lim := sc.Limits.RPM; lim > 0 {
			if wait, ok := waitFor(w.ReqPrev, w.ReqCur, frac, float64(lim), 1); !ok {
				return nil, &LimitError{What: fmt.Sprintf("%s rate limit of %d requests per minute", sc.Name, lim), RetryAfter: wait}
			}
		}
		if lim := sc.Limits.TPM; lim > 0 {
			// A call's tokens are known only when it ends, so the check is
			// that the window has room left at all.
			if wait, ok := waitFor(w.TokPrev, w.TokCur, frac, float64(lim), 1); !ok {
				return nil, &LimitError{What: fmt.Sprintf("%s rate limit of %d tokens per minute", sc.Name, lim), RetryAfter: wait}
			}
		}
	}
	var warnings []string
	for i, sc := range scopes {
		w := ws[i]
		if lim := sc.Limits.RPM; lim > 0 {
			if r := rate(w.ReqPrev, w.ReqCur+1, frac); r >= 0.8*float64(lim) {
				warnings = append(warnings, fmt.Sprintf("%s has used %d of its %d requests per minute", sc.Name, int64(math.Ceil(r)), lim))
			}
		}
		if lim := sc.Limits.TPM; lim > 0 {
			if r := rate(w.TokPrev, w.TokCur, frac); r >= 0.8*float64(lim) {
				warnings = append(warnings, fmt.Sprintf("%s has used %d of its %d tokens per minute", sc.Name, int64(math.Ceil(r)), lim))
			}
		}
	}
	return warnings, nil
}

func rate(prev, cur, frac float64) float64 { return prev*(1-frac) + cur }

// waitFor reports whether need more fits under limit now and, if not, how
// long until it does as the window slides.
func waitFor(prev, cur, frac, limit, need float64) (time.Duration, bool) {
	if rate(prev, cur, frac)+need <= limit {
		return 0, true
	}
	var at float64 // in minutes from the start of the current minute
	if cur+need <= limit {
		// prev*(1-f) + cur + need <= limit, later in this minute
		at = 1 - (limit-need-cur)/prev
	} else {
		// next minute: cur*(1-g) + need <= limit
		g := 1.0
		if cur > 0 {
			g = math.Max(0, 1-(limit-need)/cur)
		}
		at = 1 + g
	}
	wait := time.Duration((at - frac) * float64(time.Minute))
	// Whole seconds, rounded up, as Retry-After carries.
	wait = (wait + time.Second - 1).Truncate(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return wait, false
}

// memLimiter is the in-process Limiter.
type memLimiter struct {
	mu     sync.Mutex
	scopes map[string]*rates
}

type rates struct {
	minute  int64 // index of the current minute
	w       Window
	lastUse int64
}

func newMemLimiter() *memLimiter { return &memLimiter{scopes: map[string]*rates{}} }

func (r *rates) roll(minute int64) {
	switch {
	case minute == r.minute:
	case minute == r.minute+1:
		r.w = Window{ReqPrev: r.w.ReqCur, TokPrev: r.w.TokCur}
	default:
		r.w = Window{}
	}
	r.minute = minute
}

func (l *memLimiter) get(id string, minute int64) *rates {
	r := l.scopes[id]
	if r == nil {
		r = &rates{minute: minute}
		l.scopes[id] = r
		if len(l.scopes) > 100_000 {
			l.gc(minute)
		}
	}
	r.roll(minute)
	return r
}

func (l *memLimiter) Admit(_ context.Context, now time.Time, scopes []Scope) ([]string, *LimitError) {
	if len(scopes) == 0 {
		return nil, nil
	}
	minute, frac := Split(now)
	l.mu.Lock()
	defer l.mu.Unlock()
	// On the stack for the usual key and team.
	var rbuf [2]*rates
	var wbuf [2]Window
	rs, ws := rbuf[:0], wbuf[:0]
	for _, sc := range scopes {
		r := l.get(sc.ID, minute)
		rs, ws = append(rs, r), append(ws, r.w)
	}
	warnings, lerr := Check(scopes, ws, frac)
	if lerr != nil {
		return nil, lerr
	}
	for _, r := range rs {
		r.w.ReqCur++
		r.lastUse = minute
	}
	return warnings, nil
}

func (l *memLimiter) AddTokens(_ context.Context, now time.Time, scopes []Scope, n int64) {
	if n <= 0 {
		return
	}
	minute, _ := Split(now)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sc := range scopes {
		if sc.Limits.TPM > 0 {
			l.get(sc.ID, minute).w.TokCur += float64(n)
		}
	}
}

// gc drops scopes idle for two minutes or more; they count nothing.
func (l *memLimiter) gc(minute int64) {
	for id, r := range l.scopes {
		if r.lastUse < minute-1 {
			delete(l.scopes, id)
		}
	}
}

// Limiter returns the service's rate limiter.
func (s *Service) Limiter() Limiter { return s.lim }
