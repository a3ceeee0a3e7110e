package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/respstore"
)

func newStore(t *testing.T, ttl time.Duration) (*Store, *redis.Client, string) {
	t.Helper()
	url, prefix := redistest.Prefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, url, prefix, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	opt, _ := redis.ParseURL(url)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return s, rdb, prefix
}

func TestStore(t *testing.T) {
	s, rdb, prefix := newStore(t, time.Hour)
	ctx := context.Background()
	if _, err := s.Get(ctx, "resp_1", ""); !errors.Is(err, respstore.ErrNotFound) {
		t.Fatalf("an unknown id: %v", err)
	}
	if err := s.Put(ctx, "resp_1", "team:a:k", []byte("one\x00\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "resp_1", "team:a:k"); err != nil || string(got) != "one\x00\n" {
		t.Fatalf("Get = %q %v", got, err)
	}
	// The key expires with the TTL (Redis's clock: checked, not waited for).
	if ttl := rdb.PTTL(ctx, prefix+"resp_1").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL %v, want about an hour", ttl)
	}
	for _, owner := range []string{"", "team:b:k", "admin"} {
		if _, err := s.Get(ctx, "resp_1", owner); !errors.Is(err, respstore.ErrNotFound) {
			t.Errorf("owner %q read another's record: %v", owner, err)
		}
		if err := s.Delete(ctx, "resp_1", owner); !errors.Is(err, respstore.ErrNotFound) {
			t.Errorf("owner %q deleted another's record: %v", owner, err)
		}
	}
	if err := s.Put(ctx, "resp_1", "team:a:k", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "resp_1", "team:a:k"); string(got) != "again" {
		t.Errorf("a replaced record: %q", got)
	}
	if err := s.Delete(ctx, "resp_1", "team:a:k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "resp_1", "team:a:k"); !errors.Is(err, respstore.ErrNotFound) {
		t.Errorf("a deleted record: %v", err)
	}
	if err := s.Delete(ctx, "resp_1", "team:a:k"); !errors.Is(err, respstore.ErrNotFound) {
		t.Errorf("a second delete: %v", err)
	}
	// Auth off: every caller is "".
	s.Put(ctx, "resp_2", "", []byte("two"))
	if got, err := s.Get(ctx, "resp_2", ""); err != nil || string(got) != "two" {
		t.Errorf("owner \"\": %q %v", got, err)
	}
	if _, err := s.Get(ctx, "resp_2", "team:a:k"); !errors.Is(err, respstore.ErrNotFound) {
		t.Errorf("a keyed caller read an anonymous record: %v", err)
	}
}

// A record whose key Redis expired is gone for every replica.
func TestStoreExpired(t *testing.T) {
	s, rdb, prefix := newStore(t, time.Hour)
	ctx := context.Background()
	s.Put(ctx, "resp_1", "", []byte("one"))
	rdb.PExpire(ctx, prefix+"resp_1", time.Millisecond)
	for rdb.Exists(ctx, prefix+"resp_1").Val() == 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Get(ctx, "resp_1", ""); !errors.Is(err, respstore.ErrNotFound) {
		t.Errorf("an expired record: %v", err)
	}
}
