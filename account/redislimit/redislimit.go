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
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/account"
)

// Limiter is an account.Limiter over Redis.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
}

var _ account.Limiter = (*Limiter)(nil)

// Open connects to the Redis at url (redis://…, as REDIS_URL) and checks
// that it answers.
func Open(ctx context.Context, url string) (*Limiter, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: keep it out of the message.
		return nil, fmt.Errorf("redislimit: REDIS_URL is not a valid redis:// URL")
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redislimit: connect: %w", err)
	}
	return New(rdb, "runnel:rl:"), nil
}

// New returns a Limiter over rdb whose keys start with prefix.
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix, log: slog.Default()}
}

// Close closes the Redis client.
func (l *Limiter) Close() error { return l.rdb.Close() }

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
// back if a limit turns out to be reached. If Redis fails, the request is
// admitted: a limiter outage must not stop the service.
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
	res, err := admitScript.Run(ctx, l.rdb, keys).Int64Slice()
	if err != nil || len(res) != 4*len(scopes) {
		l.log.Warn("redislimit: admitting without rate limits", "err", err)
		return nil, nil
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
	if n <= 0 {
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
	if _, err := pipe.Exec(ctx); err != nil {
		l.log.Warn("redislimit: counting tokens", "err", err)
	}
}
