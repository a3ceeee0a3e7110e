// Package redislimit keeps Runnel's rate-limit counts in Redis, so that
// several serving processes share each key's and team's limits. It uses the
// same sliding window as the in-process limiter: per scope, a counter per
// minute for requests and one for tokens, which expire after two minutes.
package redislimit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/account"
)

// Limiter is an account.Limiter over Redis. Redis is asked with short
// timeouts and no retries, behind a circuit breaker: after a failure it is
// left alone for Options.Cooldown, then one request probes it. While it is
// down, requests are admitted without shared limits (fail open, the
// default) or refused with a 503 (fail closed); either way they wait for
// no Redis timeout.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	o      Options

	mu        sync.Mutex
	downUntil time.Time // zero while up
	probing   bool
	failures  atomic.Int64
}

// Options configure a Limiter. Zero values take the defaults.
type Options struct {
	// Prefix starts every key (default "runnel:"; the limiter adds "rl:").
	Prefix string
	// FailClosed refuses requests while Redis is down (503) instead of
	// admitting them without shared limits.
	FailClosed bool
	// Timeout bounds each Redis command and connection attempt (default
	// 100ms); Cooldown is how long Redis is left alone after a failure
	// (default 5s).
	Timeout, Cooldown time.Duration
	Logger            *slog.Logger
}

var (
	_ account.Limiter        = (*Limiter)(nil)
	_ account.StatusReporter = (*Limiter)(nil)
)

// Open connects to the Redis at url (redis://…, as REDIS_URL). If Redis
// does not answer yet, the limiter starts down (see Limiter) rather than
// keeping the server from starting; only a malformed URL is an error.
func Open(ctx context.Context, url string, o Options) (*Limiter, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: keep it out of the message.
		return nil, fmt.Errorf("redislimit: REDIS_URL is not a valid redis:// URL")
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = o.Timeout, o.Timeout, o.Timeout, o.Timeout
	opt.MaxRetries = -1 // a retry doubles the wait of every request while Redis is down
	l := New(redis.NewClient(opt), o)
	l.result(l.rdb.Ping(ctx).Err())
	return l, nil
}

// New returns a Limiter over rdb.
func New(rdb redis.UniversalClient, o Options) *Limiter {
	if o.Prefix == "" {
		o.Prefix = "runnel:"
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Limiter{rdb: rdb, prefix: o.Prefix + "rl:", log: o.Logger, o: o}
}

// Close closes the Redis client.
func (l *Limiter) Close() error { return l.rdb.Close() }

// Status implements account.StatusReporter.
func (l *Limiter) Status() account.LimiterStatus {
	st := account.LimiterStatus{Backend: "redis", State: "up", FailOpen: !l.o.FailClosed}
	l.mu.Lock()
	if !l.downUntil.IsZero() {
		st.State = "down"
	}
	l.mu.Unlock()
	return st
}

// Failures counts the Redis commands that failed, for metrics.
func (l *Limiter) Failures() int64 { return l.failures.Load() }

// ask reports whether this request may use Redis: yes while it is up; while
// it is down, no until the cooldown has passed, then yes for one probe.
func (l *Limiter) ask() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.downUntil.IsZero() {
		return true
	}
	if l.probing || time.Now().Before(l.downUntil) {
		return false
	}
	l.probing = true
	return true
}

// result records how a command went and logs the transitions.
func (l *Limiter) result(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wasDown := !l.downUntil.IsZero()
	l.probing = false
	if err == nil {
		if wasDown {
			l.log.Info("redislimit: Redis answers again; rate limits are shared")
		}
		l.downUntil = time.Time{}
		return
	}
	l.failures.Add(1)
	l.downUntil = time.Now().Add(l.o.Cooldown)
	if !wasDown {
		mode := "admitting requests without shared rate limits (fail open)"
		if l.o.FailClosed {
			mode = "refusing requests with 503 (fail closed)"
		}
		l.log.Warn("redislimit: Redis is unreachable; "+mode+" until it answers", "retry_every", l.o.Cooldown, "err", err)
	}
}

// unavailable is what a request gets while Redis is down.
func (l *Limiter) unavailable() ([]string, *account.LimitError) {
	if !l.o.FailClosed {
		return nil, nil
	}
	return nil, &account.LimitError{What: "rate limits cannot be checked (Redis is unreachable)", RetryAfter: l.o.Cooldown, Unavailable: true}
}

// admitScript counts one request in every scope's current minute and
// returns, per scope, the request and token counts of the previous and
// current minute before this request. KEYS are, per scope, req:cur,
// req:prev, tok:cur, tok:prev.
var admitScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS, 4 do
  local rc = redis.call('INCR', KEYS[i])
  if rc == 1 then redis.call('PEXPIRE', KEYS[i], 120000) end
  out[#out+1] = rc - 1
  out[#out+1] = tonumber(redis.call('GET', KEYS[i+1]) or '0')
  out[#out+1] = tonumber(redis.call('GET', KEYS[i+2]) or '0')
  out[#out+1] = tonumber(redis.call('GET', KEYS[i+3]) or '0')
end
return out
`)

func (l *Limiter) keys(sc account.Scope, minute int64) [4]string {
	cur, prev := strconv.FormatInt(minute, 10), strconv.FormatInt(minute-1, 10)
	p := l.prefix + sc.ID
	return [4]string{p + ":req:" + cur, p + ":req:" + prev, p + ":tok:" + cur, p + ":tok:" + prev}
}

// Admit counts the request first, atomically for all scopes, and takes it
// back if a limit turns out to be reached. While Redis is down the request
// is admitted without limits, or refused when the limiter fails closed.
func (l *Limiter) Admit(ctx context.Context, now time.Time, scopes []account.Scope) ([]string, *account.LimitError) {
	if len(scopes) == 0 {
		return nil, nil
	}
	minute, frac := account.Split(now)
	keys := make([]string, 0, 4*len(scopes))
	for _, sc := range scopes {
		k := l.keys(sc, minute)
		keys = append(keys, k[:]...)
	}
	if !l.ask() {
		return l.unavailable()
	}
	res, err := admitScript.Run(ctx, l.rdb, keys).Int64Slice()
	if err == nil && len(res) != 4*len(scopes) {
		err = fmt.Errorf("redislimit: %d counts for %d scopes", len(res), len(scopes))
	}
	if ctx.Err() != nil && err != nil {
		// The caller went away: says nothing about Redis.
		l.mu.Lock()
		l.probing = false
		l.mu.Unlock()
		return nil, nil
	}
	l.result(err)
	if err != nil {
		return l.unavailable()
	}
	ws := make([]account.Window, len(scopes))
	for i := range scopes {
		r := res[4*i:]
		ws[i] = account.Window{ReqCur: float64(r[0]), ReqPrev: float64(r[1]), TokCur: float64(r[2]), TokPrev: float64(r[3])}
	}
	warnings, lerr := account.Check(scopes, ws, frac)
	if lerr != nil {
		pipe := l.rdb.Pipeline()
		for i := 0; i < len(keys); i += 4 {
			pipe.Decr(ctx, keys[i])
		}
		if _, err := pipe.Exec(ctx); err != nil {
			l.log.Warn("redislimit: taking back a refused request", "err", err)
		}
	}
	return warnings, lerr
}

// AddTokens counts n tokens in the current minute of every scope with a
// token limit.
func (l *Limiter) AddTokens(ctx context.Context, now time.Time, scopes []account.Scope, n int64) {
	if n <= 0 || !l.ask() {
		return
	}
	minute, _ := account.Split(now)
	pipe := l.rdb.Pipeline()
	for _, sc := range scopes {
		if sc.Limits.TPM <= 0 {
			continue
		}
		k := l.keys(sc, minute)[2]
		pipe.IncrBy(ctx, k, n)
		pipe.PExpire(ctx, k, 2*time.Minute)
	}
	_, err := pipe.Exec(ctx)
	l.result(err)
}
