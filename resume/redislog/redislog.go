// Package redislog keeps resumable streams' logs in Redis, so that every
// replica can replay and follow them (resume.Shared). A log is a Redis
// stream whose entry ids are the events' numbers ("0-N"), so Redis itself
// refuses a second writer of the same event; its end is the entry "1-0",
// after every event. Readers block in XREAD; replicas talk over one
// pub/sub channel and say they are alive with a key that expires. A set
// per replica holds the streams it generates, and a set the replicas that
// have some, so that the streams of a replica that died are found even
// when no client comes back to them (resume's sweeper).
package redislog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/resume"
)

// Store is a resume.Shared over Redis.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	// keep is the longest log TTL seen (nanoseconds): how long the sets
	// of streams outlive a replica's last heartbeat, so that they last
	// as long as the logs they name.
	keep atomic.Int64
}

var _ resume.Shared = (*Store)(nil)

// Open connects to the Redis at url (redis://…, as REDIS_URL), checks
// that it answers and returns a Store whose keys start with prefix.
func Open(ctx context.Context, url, prefix string) (*Store, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: keep it out of the message.
		return nil, fmt.Errorf("redislog: REDIS_URL is not a valid redis:// URL")
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redislog: connect: %w", err)
	}
	return New(rdb, prefix), nil
}

// New returns a Store over rdb whose keys start with prefix.
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix}
}

// Close closes the Redis client.
func (s *Store) Close() error { return s.rdb.Close() }

func (s *Store) logKey(id string) string  { return s.prefix + id + ":log" }
func (s *Store) metaKey(id string) string { return s.prefix + id + ":meta" }
func (s *Store) channel() string          { return s.prefix + "ctl" }
func (s *Store) aliveKey(r string) string { return s.prefix + "replica:" + r }
func (s *Store) streamsKey(r string) string {
	return s.prefix + "streams:" + r
}
func (s *Store) replicasKey() string { return s.prefix + "replicas" }

// kept notes ttl as a log's and returns how long the sets of streams
// must outlive their last write.
func (s *Store) kept(ttl time.Duration) time.Duration {
	for {
		k := s.keep.Load()
		if int64(ttl) <= k || s.keep.CompareAndSwap(k, int64(ttl)) {
			return max(ttl, time.Duration(k))
		}
	}
}

// endID is the id of a log's end entry: after every event's "0-N".
const endID = "1-0"

func (s *Store) Create(ctx context.Context, id string, m resume.Meta, ttl time.Duration) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.metaKey(id), "owner", m.Owner, "kind", m.Kind, "replica", m.Replica)
		p.PExpire(ctx, s.metaKey(id), ttl)
		keep := s.kept(ttl)
		p.SAdd(ctx, s.streamsKey(m.Replica), id)
		p.PExpire(ctx, s.streamsKey(m.Replica), keep)
		p.SAdd(ctx, s.replicasKey(), m.Replica)
		p.PExpire(ctx, s.replicasKey(), keep)
		return nil
	})
	return err
}

// exists reports whether err is XADD's refusal of an id not after the
// stream's last.
func exists(err error) bool {
	return err != nil && strings.Contains(err.Error(), "equal or smaller")
}

func (s *Store) add(ctx context.Context, id, entry string, values []any, ttl time.Duration) error {
	args := &redis.XAddArgs{Stream: s.logKey(id), ID: entry, Values: values}
	if ttl == 0 {
		err := s.rdb.XAdd(ctx, args).Err()
		if exists(err) {
			return resume.ErrExists
		}
		return err
	}
	var add *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		add = p.XAdd(ctx, args)
		p.PExpire(ctx, s.logKey(id), ttl)
		p.PExpire(ctx, s.metaKey(id), ttl)
		return nil
	})
	if exists(add.Err()) {
		return resume.ErrExists
	}
	return err
}

func (s *Store) Append(ctx context.Context, id string, seq uint64, frame, note []byte, ttl time.Duration) error {
	v := []any{"f", frame}
	if len(note) > 0 {
		v = append(v, "n", note)
	}
	return s.add(ctx, id, "0-"+strconv.FormatUint(seq, 10), v, ttl)
}

func (s *Store) Describe(ctx context.Context, id string, call []byte) error {
	return s.rdb.HSet(ctx, s.metaKey(id), "call", call).Err()
}

func (s *Store) Notes(ctx context.Context, id string) ([]byte, error) {
	msgs, err := s.rdb.XRange(ctx, s.logKey(id), "-", "+").Result()
	if err != nil {
		return nil, err
	}
	var notes []byte
	for _, m := range msgs {
		n, _ := m.Values["n"].(string)
		notes = append(notes, n...)
	}
	return notes, nil
}

// claim sets a stream's replica from KEYS[1]'s ARGV[1] to ARGV[2], and
// moves the stream (ARGV[3]) from the set KEYS[2] of the one to the set
// KEYS[3] of the other, which lives ARGV[4] ms; KEYS[4], the set of
// replicas, gains ARGV[2].
var claim = redis.NewScript(`if redis.call('HGET', KEYS[1], 'replica') == ARGV[1] then
	redis.call('HSET', KEYS[1], 'replica', ARGV[2])
	redis.call('SREM', KEYS[2], ARGV[3])
	redis.call('SADD', KEYS[3], ARGV[3])
	redis.call('PEXPIRE', KEYS[3], ARGV[4])
	redis.call('SADD', KEYS[4], ARGV[2])
	redis.call('PEXPIRE', KEYS[4], ARGV[4])
	return 1
end
return 0`)

func (s *Store) Claim(ctx context.Context, id, dead, replica string) (bool, error) {
	keep := max(time.Duration(s.keep.Load()), time.Minute).Milliseconds()
	n, err := claim.Run(ctx, s.rdb, []string{s.metaKey(id), s.streamsKey(dead), s.streamsKey(replica), s.replicasKey()},
		dead, replica, id, keep).Int()
	return n == 1, err
}

// End writes the end entry and takes the stream out of replica's set in
// one round trip: the set needs no read of the meta first.
func (s *Store) End(ctx context.Context, id, replica, status string, ttl time.Duration) error {
	var add *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		add = p.XAdd(ctx, &redis.XAddArgs{Stream: s.logKey(id), ID: endID, Values: []any{"e", status}})
		p.PExpire(ctx, s.logKey(id), ttl)
		p.PExpire(ctx, s.metaKey(id), ttl)
		p.SRem(ctx, s.streamsKey(replica), id)
		return nil
	})
	if exists(add.Err()) {
		return resume.ErrExists
	}
	return err
}

func (s *Store) Meta(ctx context.Context, id string) (resume.Meta, error) {
	v, err := s.rdb.HGetAll(ctx, s.metaKey(id)).Result()
	if err != nil {
		return resume.Meta{}, err
	}
	if len(v) == 0 {
		return resume.Meta{}, resume.ErrNotFound
	}
	m := resume.Meta{Owner: v["owner"], Kind: v["kind"], Replica: v["replica"]}
	if c, ok := v["call"]; ok {
		m.Call = []byte(c)
	}
	return m, nil
}

func (s *Store) Tail(ctx context.Context, id string) (uint64, string, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.logKey(id), "+", "-", 2).Result()
	if err != nil {
		return 0, "", err
	}
	var (
		last uint64
		end  string
	)
	for _, m := range msgs {
		if m.ID == endID {
			end, _ = m.Values["e"].(string)
			continue
		}
		last, err = seqOf(m.ID)
		if err != nil {
			return 0, "", err
		}
		break
	}
	return last, end, nil
}

func seqOf(entry string) (uint64, error) {
	n, ok := strings.CutPrefix(entry, "0-")
	if !ok {
		return 0, fmt.Errorf("redislog: unexpected entry id %q", entry)
	}
	return strconv.ParseUint(n, 10, 64)
}

func (s *Store) Read(ctx context.Context, id string, after uint64, block time.Duration, dst [][]byte) ([][]byte, string, error) {
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{s.logKey(id), "0-" + strconv.FormatUint(after, 10)},
		Block:   block,
		Count:   256,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return dst, "", nil // nothing within block
	}
	if err != nil {
		return dst, "", err
	}
	var end string
	for _, st := range res {
		for _, m := range st.Messages {
			if m.ID == endID {
				end, _ = m.Values["e"].(string)
				break
			}
			f, _ := m.Values["f"].(string)
			dst = append(dst, []byte(f))
		}
	}
	return dst, end, nil
}

func (s *Store) Publish(ctx context.Context, msg string) error {
	return s.rdb.Publish(ctx, s.channel(), msg).Err()
}

func (s *Store) Subscribe(ctx context.Context, ready func(), f func(msg string)) error {
	sub := s.rdb.Subscribe(ctx, s.channel())
	defer sub.Close()
	// A blocked receive does not watch ctx; closing the subscription
	// ends it.
	stop := context.AfterFunc(ctx, func() { sub.Close() })
	defer stop()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		return err
	}
	ready()
	for {
		m, err := sub.ReceiveMessage(ctx)
		if err != nil {
			return err
		}
		f(m.Payload)
	}
}

// Beat also keeps replica's set of streams, and the set of replicas,
// from expiring while it lives: a stream may be written for longer than
// the TTL its Create gave them.
func (s *Store) Beat(ctx context.Context, replica string, ttl time.Duration) error {
	keep := s.keep.Load()
	if keep == 0 {
		return s.rdb.Set(ctx, s.aliveKey(replica), "1", ttl).Err()
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.aliveKey(replica), "1", ttl)
		p.PExpire(ctx, s.streamsKey(replica), time.Duration(keep)+ttl)
		p.PExpire(ctx, s.replicasKey(), time.Duration(keep)+ttl)
		return nil
	})
	return err
}

func (s *Store) Alive(ctx context.Context, replica string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.aliveKey(replica)).Result()
	return n == 1, err
}

func (s *Store) Replicas(ctx context.Context) ([]string, error) {
	return s.rdb.SMembers(ctx, s.replicasKey()).Result()
}

func (s *Store) Streams(ctx context.Context, replica string) ([]string, error) {
	return s.rdb.SMembers(ctx, s.streamsKey(replica)).Result()
}

// forget drops replica ARGV[1] from the set of replicas KEYS[1] if its
// set of streams KEYS[2] is empty and its heartbeat KEYS[3] gone.
var forget = redis.NewScript(`if redis.call('SCARD', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
	redis.call('SREM', KEYS[1], ARGV[1])
end
return 0`)

func (s *Store) Forget(ctx context.Context, replica, id string) error {
	if id != "" {
		return s.rdb.SRem(ctx, s.streamsKey(replica), id).Err()
	}
	return forget.Run(ctx, s.rdb, []string{s.replicasKey(), s.streamsKey(replica), s.aliveKey(replica)}, replica).Err()
}
