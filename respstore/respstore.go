// Package respstore keeps stored responses (OpenAI's Responses API with
// "store": true) for a while: opaque records by id, each readable only by
// the caller who made it. Memory keeps them in this process within a byte
// budget; respstore/redisstore keeps them in Redis, for every replica. It
// knows nothing of HTTP or of the record's contents.
package respstore

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultTTL    = time.Hour
	DefaultBudget = 64 << 20
)

// ErrNotFound covers unknown, expired, deleted and not-owned ids alike, so
// that a guess learns nothing of another caller's responses.
var ErrNotFound = errors.New("respstore: no such response (unknown, expired or not yours)")

// Store keeps records by id for their owner ("" when auth is off: every
// caller is the same one).
type Store interface {
	// Put keeps rec as id's record for owner, replacing any.
	Put(ctx context.Context, id, owner string, rec []byte) error
	// Get returns id's record if owner made it, else ErrNotFound.
	Get(ctx context.Context, id, owner string) ([]byte, error)
	// Delete forgets id's record if owner made it, else ErrNotFound.
	Delete(ctx context.Context, id, owner string) error
}

// Options configure a Memory store. Zero values take the defaults.
type Options struct {
	// TTL is how long a record is kept after it was put.
	TTL time.Duration
	// Budget caps the bytes of all records held; past it the oldest go
	// first. A record larger than the budget is not kept (Put says so).
	Budget int64
	// Now is the clock (time.Now when nil), for tests.
	Now func() time.Time
}

// ErrTooLarge is returned by Memory.Put for a record larger than the
// whole budget.
var ErrTooLarge = errors.New("respstore: the response is larger than the store's budget")

// Memory is a Store in process memory. Records leave when their TTL runs
// out (checked when read, and from the oldest end at every Put) or, oldest
// first, to make room within the budget. It is safe for concurrent use.
type Memory struct {
	o Options

	mu    sync.Mutex
	byID  map[string]*entry
	order []*entry // by time put: oldest first (so also by expiry)
	held  int64
}

type entry struct {
	id, owner string
	rec       []byte
	expires   time.Time
	bytes     int64
	gone      bool // deleted or replaced; still in order until it reaches the front
}

// size is what an entry counts against the budget: its record, id and
// owner, and a little for the map and the queue. Fixed at Put.
func (e *entry) size() int64 { return e.bytes }

// NewMemory returns an empty Memory store.
func NewMemory(o Options) *Memory {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Memory{o: o, byID: map[string]*entry{}}
}

// Options returns the store's options, defaults filled in.
func (m *Memory) Options() Options { return m.o }

// Put keeps a copy of rec.
func (m *Memory) Put(_ context.Context, id, owner string, rec []byte) error {
	e := &entry{id: id, owner: owner, rec: append([]byte(nil), rec...), expires: m.o.Now().Add(m.o.TTL)}
	e.bytes = int64(len(rec) + len(id) + len(owner) + 96)
	if e.size() > m.o.Budget {
		return ErrTooLarge
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.byID[id]; old != nil {
		m.forget(old)
	}
	now := m.o.Now()
	for len(m.order) > 0 {
		old := m.order[0]
		if !old.gone && m.held+e.size() <= m.o.Budget && now.Before(old.expires) {
			break
		}
		m.order[0] = nil // the array outlives the slice: let old go
		m.order = m.order[1:]
		m.forget(old)
	}
	m.byID[id] = e
	m.order = append(m.order, e)
	m.held += e.size()
	return nil
}

// forget drops e from the map and the budget (it leaves order when it
// reaches the front). Called with mu held.
func (m *Memory) forget(e *entry) {
	if e.gone {
		return
	}
	e.gone = true
	if m.byID[e.id] == e {
		delete(m.byID, e.id)
	}
	m.held -= e.size()
	e.rec = nil // its bytes go now, though the entry waits in order
}

// Get returns the record itself: callers must not change it.
func (m *Memory) Get(_ context.Context, id, owner string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.byID[id]
	if e == nil || e.owner != owner {
		return nil, ErrNotFound
	}
	if !m.o.Now().Before(e.expires) {
		m.forget(e)
		return nil, ErrNotFound
	}
	return e.rec, nil
}

func (m *Memory) Delete(_ context.Context, id, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.byID[id]
	if e == nil || e.owner != owner || !m.o.Now().Before(e.expires) {
		return ErrNotFound
	}
	m.forget(e)
	return nil
}

// Held returns the bytes counted against the budget.
func (m *Memory) Held() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held
}

// Len returns how many records are held (expired ones included until
// they are found out).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}
