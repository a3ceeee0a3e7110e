package account

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Changes is what a Store offers, when it can, so that the key lookup on
// every request can be served from memory: a cheap view of changes to keys
// and teams made by any process using the same database (the CLI beside a
// running server, or other servers).
type Changes interface {
	// Version changes whenever any process announced a change with
	// Changed. ok is false while the store cannot tell (a lost listener
	// connection): nothing may then be served from memory.
	Version() (v uint64, ok bool)
	// Changed announces a change that has committed.
	Changed(ctx context.Context) error
}

// keyCache holds recent key lookups (AuthKeys by prefix), each valid while
// neither this process nor the store saw a change to keys or teams since it
// was read, and for at most snapshotTTL, the age the team snapshot inside
// it may have (see Admit).
type keyCache struct {
	changes Changes // nil: the store cannot tell; nothing is cached
	local   atomic.Uint64

	mu      sync.Mutex
	entries map[string]keyEntry
}

type keyEntry struct {
	keys   []KeyTeam
	readAt time.Time
	versions
}

// versions are both change versions as read at one moment; ok is false
// while the store cannot tell (nothing may be served from memory).
type versions struct {
	local, remote uint64
	ok            bool
}

// maxKeyEntries bounds the cache; past it the cache starts over.
const maxKeyEntries = 10000

func newKeyCache(st Store) *keyCache {
	c := &keyCache{entries: map[string]keyEntry{}}
	c.changes, _ = st.(Changes)
	return c
}

// versions reads both versions, before a lookup whose result put stores.
// (SQLite's remote version is a stat of the marker file.)
func (c *keyCache) versions() versions {
	if c.changes == nil {
		return versions{}
	}
	v := versions{local: c.local.Load()}
	v.remote, v.ok = c.changes.Version()
	return v
}

// get returns prefix's entry if it is still valid, and the versions it
// read to decide: the request's identity keeps them (Identity.seen).
func (c *keyCache) get(prefix string) (keyEntry, versions, bool) {
	v := c.versions()
	if !v.ok {
		return keyEntry{}, v, false
	}
	c.mu.Lock()
	e, found := c.entries[prefix]
	c.mu.Unlock()
	if !found || e.versions != v || time.Since(e.readAt) >= snapshotTTL {
		return keyEntry{}, v, false
	}
	return e, v, true
}

// put stores a lookup made after versions returned v; a change during the
// lookup leaves it stale at once, as it should.
func (c *keyCache) put(prefix string, keys []KeyTeam, readAt time.Time, v versions) {
	if len(keys) == 0 || !v.ok {
		return // unknown prefixes are not kept: they could fill the cache
	}
	c.mu.Lock()
	if len(c.entries) >= maxKeyEntries {
		clear(c.entries)
	}
	c.entries[prefix] = keyEntry{keys: keys, readAt: readAt, versions: v}
	c.mu.Unlock()
}

// changed invalidates this process's entries at once and announces the
// change to other processes.
func (c *keyCache) changed(ctx context.Context) error {
	c.local.Add(1)
	if c.changes == nil {
		return nil
	}
	return c.changes.Changed(ctx)
}
