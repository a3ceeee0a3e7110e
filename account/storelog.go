package account

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// storeLogEvery is how often, at most, a store that keeps failing is
// logged again.
const storeLogEvery = 10 * time.Second

// storeLog logs the store's failures without a line per request while it
// is down: the first failure at once, then at most one line every
// storeLogEvery with how many failures it left out, and one line when a
// write succeeds again. Each refused request still carries its cause to
// its client (a 503). An isolated failure (the next write succeeds) is
// one line, as before.
type storeLog struct {
	log *slog.Logger
	now func() time.Time
	// down is read by every write that succeeds: one atomic load while
	// the store answers.
	down     atomic.Bool
	mu       sync.Mutex
	since    time.Time // the first failure since the store last answered
	last     time.Time // when the last line was written
	failures int       // since then: in all, and not logged (quiet)
	quiet    int
}

// failed notes a store failure: logged as msg with err and attrs if it
// is the first since the store answered, else counted into the next
// summary line, which it writes when storeLogEvery has passed.
func (l *storeLog) failed(msg string, err error, attrs ...any) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down.Load() {
		l.down.Store(true)
		l.since, l.last, l.failures, l.quiet = now, now, 1, 0
		l.log.Warn(msg, append(attrs, "err", err)...)
		return
	}
	l.failures++
	l.quiet++
	if now.Sub(l.last) >= storeLogEvery {
		l.log.Warn("account: the store is still failing", "suppressed", l.quiet, "failures", l.failures, "since", l.since, "err", err)
		l.last, l.quiet = now, 0
	}
}

// ok notes a write the store took: after failures, the store answers
// again.
func (l *storeLog) ok() {
	if !l.down.Load() {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down.Load() {
		return
	}
	l.down.Store(false)
	if l.failures > 1 {
		l.log.Info("account: the store answers again", "failures", l.failures, "suppressed", l.quiet, "down_for", now.Sub(l.since))
	}
}
