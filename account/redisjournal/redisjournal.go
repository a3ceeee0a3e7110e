// Package redisjournal keeps the call records that the account store
// refused (the database was down or erroring) in Redis, where every
// replica reaches them, so that a record outlives the replica that served
// its call and that replica's disk. Any replica drains them into the store
// (account.Service runs the drain every few seconds); a claim with a
// time limit lets one replica drain at a time, and the store's idempotency
// by call id makes a second store of a record (a drainer that died between
// storing and removing it, or whose claim ran out) store and charge
// nothing.
//
// Keys, under the prefix (default "runnel:"):
//
//	rec:pending  a hash: one field per record kept (account's key: call id,
//	             the job it settles, reservation), the record's JSON as the local journal
//	             has it; no expiry, fields are removed once stored
//	rec:drain    the drain claim: a random token of the replica draining,
//	             with a time limit renewed before each batch
//	rec:held     a hash: one field per hold of a record kept (its
//	             reservation, "res:ID", and the job it settles,
//	             "job:ID"; see account.PendingHolds), the record's key:
//	             whether a hold waits on a record is one HEXISTS, however
//	             many records wait
//	rec:holds:H  a set: the keys of every record kept that names hold H
//	             (several records name one credit block; rec:held names
//	             only the last), until each is stored
//	rec:gone:H   hold H was let go (Release) while no record named it: a
//	             record put later reports it (account.ErrHoldGone); a day
//	rec:alive:O  replica O runs (Heartbeat, with each lease renewal, a
//	             lease's time to live): its reservations are not let go,
//	             even if it cannot renew its lease in the database
//
// Durability is Redis's own: a record is in Redis's memory when Put
// returns, which survives any replica; it survives a Redis restart only
// with persistence (AOF with appendfsync everysec loses at most about a
// second of writes on a crash of Redis itself, always none; RDB loses what
// came after the last snapshot). The account layer writes the local
// journal too, as a second copy for that case.
package redisjournal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/account"
)

// claimTTL is how long a drain claim holds without renewal: longer than
// one batch's store (account bounds it at 10s), so that a live drainer
// keeps it, short enough that a dead one's records wait little.
const claimTTL = 30 * time.Second

// scanCount is the batch size asked of HSCAN (a hint to Redis).
const scanCount = 128

// ErrClaimLost is returned by Drain when its claim ran out mid-drain (the
// store was slower than claimTTL): another replica may be draining.
var ErrClaimLost = errors.New("redisjournal: the drain claim ran out")

// Journal is an account.SharedJournal over Redis.
type Journal struct {
	rdb     redis.UniversalClient
	pending string
	claim   string
	held    string
	gone    string
	alive   string
	holds   string
}

// goneTTL is how long a let-go hold is remembered: longer than any call
// that outlives its replica's lease.
const goneTTL = 24 * time.Hour

var _ account.SharedJournal = (*Journal)(nil)

// Open connects to the Redis at url (redis://…, as REDIS_URL). Redis need
// not answer yet; only a malformed URL is an error. Commands time out
// after a second and are not retried: Put runs before a call's response
// ends, after the store already failed, and a record Redis does not take
// at once goes to the local journal.
func Open(url, prefix string) (*Journal, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: keep it out of the message.
		return nil, fmt.Errorf("redisjournal: REDIS_URL is not a valid redis:// URL")
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = time.Second, time.Second, time.Second, time.Second
	opt.MaxRetries = -1
	return New(redis.NewClient(opt), prefix), nil
}

// New returns a Journal over rdb with keys under prefix (default
// "runnel:").
func New(rdb redis.UniversalClient, prefix string) *Journal {
	if prefix == "" {
		prefix = "runnel:"
	}
	return &Journal{rdb: rdb, pending: prefix + "rec:pending", claim: prefix + "rec:drain", held: prefix + "rec:held", gone: prefix + "rec:gone:", alive: prefix + "rec:alive:", holds: prefix + "rec:holds:"}
}

// Close closes the Redis client.
func (j *Journal) Close() error { return j.rdb.Close() }

// The scripts that keep the record hash and its holds in step: one
// script each, so that Release and Put are ordered by Redis, never
// interleaved.
var (
	// putScript keeps ARGV[2] under key ARGV[1] in KEYS[1], and indexes
	// its holds (ARGV[5:]) in KEYS[2] (hold → the last record naming it)
	// and in a set per hold (ARGV[4]..hold: every record naming it, as
	// several records name one credit block); it counts those let go
	// already (a key ARGV[3]..hold exists).
	putScript = redis.NewScript(`redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local gone = 0
for i = 5, #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
  redis.call('SADD', ARGV[4] .. ARGV[i], ARGV[1])
  if redis.call('EXISTS', ARGV[3] .. ARGV[i]) == 1 then gone = gone + 1 end
end
return gone`)
	// releaseHoldScript lets hold ARGV[1] go unless a record names it
	// (KEYS[1]; or one of the set ARGV[5] is still in KEYS[2], the set
	// being dropped otherwise, so that a member a drainer failed to
	// remove holds nothing) or its owner's heartbeat ARGV[4] (if any)
	// lives, remembering that it went (ARGV[2] for ARGV[3] ms).
	releaseHoldScript = redis.NewScript(`if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
for _, k in ipairs(redis.call('SMEMBERS', ARGV[5])) do
  if redis.call('HEXISTS', KEYS[2], k) == 1 then return 0 end
end
redis.call('DEL', ARGV[5])
if ARGV[4] ~= '' and redis.call('EXISTS', ARGV[4]) == 1 then return 0 end
redis.call('SET', ARGV[2], '1', 'PX', ARGV[3])
return 1`)
	// forgetScript removes the records ARGV[3..ARGV[1]+2] from KEYS[1],
	// then the holds of the (hold, key) pairs after them from KEYS[2]
	// where they still name that key, and the key from the hold's set
	// (ARGV[2]..hold).
	forgetScript = redis.NewScript(`local n = tonumber(ARGV[1])
local removed = 0
for i = 3, n + 2 do removed = removed + redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = n + 3, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[2], ARGV[i]) end
  redis.call('SREM', ARGV[2] .. ARGV[i], ARGV[i + 1])
end
return removed`)
)

// Put keeps rec under key until a drain stores it, and indexes its holds
// (account.PendingHolds). If one of them was let go before (Release), the
// record is kept all the same and the error is account.ErrHoldGone.
func (j *Journal) Put(ctx context.Context, key string, rec []byte) error {
	args := []any{key, rec, j.gone, j.holds}
	for _, h := range account.PendingHolds(key) {
		args = append(args, h)
	}
	gone, err := putScript.Run(ctx, j.rdb, []string{j.pending, j.held}, args...).Int()
	if err == nil && gone > 0 {
		err = account.ErrHoldGone
	}
	return err
}

// Release implements account.SharedJournal: it lets hold go, and says so,
// unless a record kept names it or its owner (if not "") is alive.
func (j *Journal) Release(ctx context.Context, owner, hold string) (bool, error) {
	alive := ""
	if owner != "" {
		alive = j.alive + owner
	}
	n, err := releaseHoldScript.Run(ctx, j.rdb, []string{j.held, j.pending}, hold, j.gone+hold, goneTTL.Milliseconds(), alive, j.holds+hold).Int()
	return n == 1, err
}

// Heartbeat implements account.SharedJournal: owner runs for ttl more, or
// (ttl <= 0) has stopped.
func (j *Journal) Heartbeat(ctx context.Context, owner string, ttl time.Duration) error {
	if ttl <= 0 {
		return j.rdb.Del(ctx, j.alive+owner).Err()
	}
	return j.rdb.Set(ctx, j.alive+owner, "1", ttl).Err()
}

// Keys lists the keys of the records kept.
func (j *Journal) Keys(ctx context.Context) ([]string, error) {
	return j.rdb.HKeys(ctx, j.pending).Result()
}

// Len counts the records kept.
func (j *Journal) Len(ctx context.Context) (int64, error) {
	return j.rdb.HLen(ctx, j.pending).Result()
}

// renewScript extends the claim (KEYS[1]) if it is still ARGV[1]'s;
// releaseScript deletes it then.
var (
	renewScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)
	releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) end
return 0`)
)

// Drain implements account.SharedJournal: while nothing is kept it costs
// one EXISTS; else it takes the claim (or leaves the records to the
// replica holding it), hands them to store a batch at a time, removes
// those store reports stored, and lets go of the claim.
func (j *Journal) Drain(ctx context.Context, store func(context.Context, []account.PendingRecord) ([]string, error)) (int, error) {
	if n, err := j.rdb.Exists(ctx, j.pending).Result(); err != nil || n == 0 {
		return 0, err
	}
	b := make([]byte, 12)
	rand.Read(b)
	token := hex.EncodeToString(b)
	ok, err := j.rdb.SetNX(ctx, j.claim, token, claimTTL).Result()
	if err != nil || !ok {
		return 0, err
	}
	defer releaseScript.Run(context.WithoutCancel(ctx), j.rdb, []string{j.claim}, token)
	removed := 0
	var cursor uint64
	for {
		held, err := renewScript.Run(ctx, j.rdb, []string{j.claim}, token, claimTTL.Milliseconds()).Int()
		if err != nil {
			return removed, err
		}
		if held == 0 {
			return removed, ErrClaimLost
		}
		kv, next, err := j.rdb.HScan(ctx, j.pending, cursor, "", scanCount).Result()
		if err != nil {
			return removed, err
		}
		recs := make([]account.PendingRecord, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			recs = append(recs, account.PendingRecord{Key: kv[i], Record: []byte(kv[i+1])})
		}
		var stored []string
		var serr error
		if len(recs) > 0 {
			stored, serr = store(ctx, recs)
		}
		if len(stored) > 0 {
			// Removed only once stored: a drainer that dies in between
			// leaves them for the next, whose store is a no-op.
			n, err := j.forget(context.WithoutCancel(ctx), stored)
			removed += n
			if err != nil {
				return removed, err
			}
		}
		if serr != nil {
			return removed, serr
		}
		if next == 0 {
			return removed, nil
		}
		cursor = next
	}
}

// forget removes the records under keys and their holds.
func (j *Journal) forget(ctx context.Context, keys []string) (int, error) {
	args := []any{len(keys), j.holds}
	for _, k := range keys {
		args = append(args, k)
	}
	for _, k := range keys {
		for _, h := range account.PendingHolds(k) {
			args = append(args, h, k)
		}
	}
	return forgetScript.Run(ctx, j.rdb, []string{j.pending, j.held}, args...).Int()
}
