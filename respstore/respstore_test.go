package respstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// clock is a hand-moved clock: TTLs are tested without waiting.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestMemoryTTL(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	m := NewMemory(Options{TTL: time.Hour, Now: c.now})
	ctx := context.Background()
	if err := m.Put(ctx, "resp_1", "team:a:k", []byte("one")); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Hour - time.Nanosecond)
	if got, err := m.Get(ctx, "resp_1", "team:a:k"); err != nil || string(got) != "one" {
		t.Fatalf("just before the TTL: %q %v", got, err)
	}
	c.t = c.t.Add(time.Nanosecond)
	if _, err := m.Get(ctx, "resp_1", "team:a:k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("at the TTL: %v, want ErrNotFound", err)
	}
	if m.Held() != 0 || m.Len() != 0 {
		t.Fatalf("an expired record still held: %d bytes, %d records", m.Held(), m.Len())
	}
	// Expired records leave at the next Put though nobody reads them.
	m.Put(ctx, "resp_2", "", []byte("two"))
	c.t = c.t.Add(2 * time.Hour)
	m.Put(ctx, "resp_3", "", []byte("three"))
	if m.Len() != 1 {
		t.Fatalf("%d records held, want 1 (resp_2 expired)", m.Len())
	}
	if err := m.Delete(ctx, "resp_2", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting an expired record: %v", err)
	}
}

func TestMemoryOwners(t *testing.T) {
	m := NewMemory(Options{})
	ctx := context.Background()
	m.Put(ctx, "resp_1", "team:a:k", []byte("a's"))
	for _, owner := range []string{"", "team:b:k", "team:a:k2", "admin"} {
		if got, err := m.Get(ctx, "resp_1", owner); !errors.Is(err, ErrNotFound) {
			t.Errorf("owner %q read another's record: %q %v", owner, got, err)
		}
		if err := m.Delete(ctx, "resp_1", owner); !errors.Is(err, ErrNotFound) {
			t.Errorf("owner %q deleted another's record: %v", owner, err)
		}
	}
	if _, err := m.Get(ctx, "resp_nope", "team:a:k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown id: %v", err)
	}
	if err := m.Delete(ctx, "resp_1", "team:a:k"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, "resp_1", "team:a:k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted record: %v", err)
	}
	if err := m.Delete(ctx, "resp_1", "team:a:k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a second delete: %v", err)
	}
	if m.Held() != 0 {
		t.Errorf("held %d after the delete", m.Held())
	}
}

func TestMemoryBudget(t *testing.T) {
	ctx := context.Background()
	rec := make([]byte, 1000)
	one := int64(len(rec) + len("resp_0") + 96)
	m := NewMemory(Options{Budget: 3 * one})
	for i := range 5 {
		if err := m.Put(ctx, fmt.Sprintf("resp_%d", i), "", rec); err != nil {
			t.Fatal(err)
		}
		if m.Held() > 3*one {
			t.Fatalf("held %d, over the budget %d", m.Held(), 3*one)
		}
	}
	for i := range 5 {
		_, err := m.Get(ctx, fmt.Sprintf("resp_%d", i), "")
		if kept := i >= 2; kept != (err == nil) {
			t.Errorf("resp_%d: %v; the three newest are kept, the oldest go", i, err)
		}
	}
	// A replaced record counts once.
	m.Put(ctx, "resp_4", "", rec)
	if m.Held() != 3*one || m.Len() != 3 {
		t.Errorf("after a replace: held %d (%d records), want %d (3)", m.Held(), m.Len(), 3*one)
	}
	if err := m.Put(ctx, "resp_big", "", make([]byte, 3*one)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a record over the budget: %v", err)
	}
	if _, err := m.Get(ctx, "resp_2", ""); err != nil {
		t.Errorf("a refused record evicted others: %v", err)
	}
}

// Put keeps its own copy: the caller's buffer may be reused.
func TestMemoryCopies(t *testing.T) {
	m := NewMemory(Options{})
	b := []byte("abc")
	m.Put(context.Background(), "r", "", b)
	b[0] = 'x'
	if got, _ := m.Get(context.Background(), "r", ""); string(got) != "abc" {
		t.Errorf("got %q", got)
	}
}
