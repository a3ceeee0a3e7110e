package account

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// limiter keeps per-minute request and token rates per scope (a key or a
// team) in process, as a sliding window: the previous minute's count,
// weighted by how much of it still overlaps the last 60 s, plus the current
// minute's.
type limiter struct {
	mu     sync.Mutex
	scopes map[string]*rates
}

type rates struct {
	minute          int64 // index of the current minute
	reqCur, reqPrev float64
	tokCur, tokPrev float64
	lastUse         int64
}

// scope is one thing limited: its name (for warnings) and limits.
type scope struct {
	id     string // "key:ID" or "team:ID"
	name   string // "key", "team"
	limits Limits
}

func newLimiter() *limiter { return &limiter{scopes: map[string]*rates{}} }

func (r *rates) roll(minute int64) {
	switch {
	case minute == r.minute:
	case minute == r.minute+1:
		r.reqPrev, r.tokPrev = r.reqCur, r.tokCur
		r.reqCur, r.tokCur = 0, 0
	default:
		r.reqPrev, r.tokPrev, r.reqCur, r.tokCur = 0, 0, 0, 0
	}
	r.minute = minute
}

// limitError says which limit was hit and when to retry.
type limitError struct {
	what       string
	retryAfter time.Duration
}

// admit counts one request against every scope, or none if any limit is
// reached. It returns warnings for limits at 80% or more.
func (l *limiter) admit(now time.Time, scopes []scope) ([]string, *limitError) {
	minute, frac := split(now)
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := make([]*rates, len(scopes))
	for i, sc := range scopes {
		r := l.scopes[sc.id]
		if r == nil {
			r = &rates{minute: minute}
			l.scopes[sc.id] = r
			if len(l.scopes) > 100_000 {
				l.gc(minute)
			}
		}
		r.roll(minute)
		rs[i] = r
		if lim := sc.limits.RPM; lim > 0 {
			if wait, ok := waitFor(r.reqPrev, r.reqCur, frac, float64(lim), 1); !ok {
				return nil, &limitError{fmt.Sprintf("%s rate limit of %d requests per minute", sc.name, lim), wait}
			}
		}
		if lim := sc.limits.TPM; lim > 0 {
			// A call's tokens are known only when it ends, so the check is
			// that the window has room left at all.
			if wait, ok := waitFor(r.tokPrev, r.tokCur, frac, float64(lim), 1); !ok {
				return nil, &limitError{fmt.Sprintf("%s rate limit of %d tokens per minute", sc.name, lim), wait}
			}
		}
	}
	var warnings []string
	for i, sc := range scopes {
		r := rs[i]
		r.reqCur++
		r.lastUse = minute
		if lim := sc.limits.RPM; lim > 0 && rate(r.reqPrev, r.reqCur, frac) >= 0.8*float64(lim) {
			warnings = append(warnings, fmt.Sprintf("%s has used %d of its %d requests per minute", sc.name, int64(math.Ceil(rate(r.reqPrev, r.reqCur, frac))), lim))
		}
		if lim := sc.limits.TPM; lim > 0 && rate(r.tokPrev, r.tokCur, frac) >= 0.8*float64(lim) {
			warnings = append(warnings, fmt.Sprintf("%s has used %d of its %d tokens per minute", sc.name, int64(math.Ceil(rate(r.tokPrev, r.tokCur, frac))), lim))
		}
	}
	return warnings, nil
}

// addTokens counts a finished call's tokens.
func (l *limiter) addTokens(now time.Time, scopes []scope, n int64) {
	if n <= 0 {
		return
	}
	minute, _ := split(now)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sc := range scopes {
		if sc.limits.TPM <= 0 {
			continue
		}
		r := l.scopes[sc.id]
		if r == nil {
			r = &rates{minute: minute}
			l.scopes[sc.id] = r
		}
		r.roll(minute)
		r.tokCur += float64(n)
	}
}

// gc drops scopes idle for two minutes or more; they count nothing.
func (l *limiter) gc(minute int64) {
	for id, r := range l.scopes {
		if r.lastUse < minute-1 {
			delete(l.scopes, id)
		}
	}
}

func split(now time.Time) (minute int64, frac float64) {
	ns := now.UnixNano()
	minute = ns / int64(time.Minute)
	return minute, float64(ns%int64(time.Minute)) / float64(time.Minute)
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
