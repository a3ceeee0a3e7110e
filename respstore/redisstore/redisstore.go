// Package redisstore keeps stored responses in Redis (respstore.Store), so
// that a chain of responses continues on any replica: one hash per
// response, holding its owner and record, that expires with the TTL.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/respstore"
)

// Store is a respstore.Store over Redis.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ respstore.Store = (*Store)(nil)

// Open connects to the Redis at url (redis://…, as REDIS_URL), checks that
// it answers and returns a Store whose keys start with prefix and live ttl
// (respstore.DefaultTTL when 0).
func Open(ctx context.Context, url, prefix string, ttl time.Duration) (*Store, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: keep it out of the message.
		return nil, fmt.Errorf("redisstore: REDIS_URL is not a valid redis:// URL")
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redisstore: connect: %w", err)
	}
	return New(rdb, prefix, ttl), nil
}

// New returns a Store over rdb.
func New(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Store {
	if ttl <= 0 {
		ttl = respstore.DefaultTTL
	}
	return &Store{rdb: rdb, prefix: prefix, ttl: ttl}
}

// Close closes the Redis client.
func (s *Store) Close() error { return s.rdb.Close() }

func (s *Store) key(id string) string { return s.prefix + id }

// Put replaces the hash whole (a stale field of an earlier record never
// survives) and sets its expiry, in one transaction.
func (s *Store) Put(ctx context.Context, id, owner string, rec []byte) error {
	k := s.key(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "owner", owner, "rec", rec)
		p.PExpire(ctx, k, s.ttl)
		return nil
	})
	return err
}

func (s *Store) Get(ctx context.Context, id, owner string) ([]byte, error) {
	v, err := s.rdb.HMGet(ctx, s.key(id), "owner", "rec").Result()
	if err != nil {
		return nil, err
	}
	o, ok1 := v[0].(string)
	rec, ok2 := v[1].(string)
	if !ok1 || !ok2 || o != owner {
		return nil, respstore.ErrNotFound
	}
	return []byte(rec), nil
}

// deleteOwned deletes KEYS[1] if its owner is ARGV[1]: 1 if it did.
var deleteOwned = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

func (s *Store) Delete(ctx context.Context, id, owner string) error {
	n, err := deleteOwned.Run(ctx, s.rdb, []string{s.key(id)}, owner).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if n == 0 {
		return respstore.ErrNotFound
	}
	return nil
}
