// Package redistest gives tests a Redis of their own: the local one
// scripts/services starts (or $REDIS_URL) under a fresh key prefix whose
// keys are deleted when the test ends, so that tests running at once, and
// runs that were killed, never see each other's keys.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the Redis scripts/services starts.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL is $REDIS_URL or DefaultURL.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Prefix checks that Redis answers (failing t if not) and returns its URL
// and a fresh "runnel-test-HEX:" prefix whose keys are deleted when t
// ends.
func Prefix(t testing.TB) (url, prefix string) {
	t.Helper()
	url = URL()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("Redis at %s (start it with scripts/services): %v", url, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix = "runnel-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return url, prefix
}
