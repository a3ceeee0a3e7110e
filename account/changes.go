package account

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
// was read, and for at most keyTTL (snapshotTTL if a key's team has a
// budget: see keyEntry.ttl). Every change made through Runnel is announced
// and drops the entries at once; the age bounds only changes made to the
// database by hand, or announcements that failed. Requests that find a prefix missing or expired
// while a lookup of it is in flight under the same versions wait for that
// lookup instead of each making their own: when an entry expires under
// load, one request reads the store, not every request of that moment.
type keyCache struct {
	changes Changes // nil: the store cannot tell; nothing is cached
	local   atomic.Uint64

	mu       sync.Mutex
	entries  map[string]*keyEntry
	inflight map[string]*keyLookup
}

// keyEntry is one lookup: read only once made, shared by the requests it
// serves (an Identity points into it).
type keyEntry struct {
	keys   []KeyTeam
	readAt time.Time
	// until is when it stops serving: readAt+ttl(keys).
	until time.Time
	versions
	// scopes are keys[i]'s rate-limit scope ids, made once per lookup
	// rather than once per request.
	scopes []scopeIDs
	// plain[i] is the key that matched keys[i]'s hash, once one has:
	// later requests with the same key compare it in constant time
	// instead of hashing it again (SHA-256, a few thousand instructions
	// a request). Kept no longer than the entry, which a change or the
	// next lookup of its prefix replaces.
	plain []atomic.Pointer[[]byte]
}

// matches reports whether key is keys[i]'s: the same bytes as the key
// that matched it before, or the same SHA-256 as stored.
func (e *keyEntry) matches(i int, key []byte) bool {
	if i < len(e.plain) {
		if p := e.plain[i].Load(); p != nil {
			return subtle.ConstantTimeCompare(*p, key) == 1
		}
	}
	h := sha256.Sum256(key)
	if subtle.ConstantTimeCompare(h[:], e.keys[i].Key.Hash) != 1 {
		return false
	}
	if i < len(e.plain) {
		k := bytes.Clone(key)
		e.plain[i].Store(&k)
	}
	return true
}

type scopeIDs struct{ key, team string }

// keyTTL is how long a lookup serves while the change view is up and
// announces no change (ten key lookups fewer a second a busy team would
// pay for at a second: docs/benchmarks.md, issue 13, authrate session).
const keyTTL = 10 * time.Second

// ttl is how long a lookup of keys may serve. A team with a budget keeps
// snapshotTTL: its snapshot's Spent, which every record moves without an
// announcement, feeds the budget warning (Admit). Everything else in a
// snapshot (limits, the budget itself, revocation) changes only with an
// announcement.
func ttl(keys []KeyTeam) time.Duration {
	for i := range keys {
		if keys[i].Team.MaxBudget > 0 {
			return snapshotTTL
		}
	}
	return keyTTL
}

func newKeyEntry(keys []KeyTeam, readAt time.Time, v versions) *keyEntry {
	e := &keyEntry{keys: keys, readAt: readAt, until: readAt.Add(ttl(keys)), versions: v, scopes: make([]scopeIDs, len(keys)), plain: make([]atomic.Pointer[[]byte], len(keys))}
	for i := range keys {
		e.scopes[i] = scopeIDs{key: "key:" + keys[i].Key.ID, team: "team:" + keys[i].Team.ID}
	}
	return e
}

// keyLookup is a lookup in flight; e and err are set when done closes.
type keyLookup struct {
	v    versions
	done chan struct{}
	e    *keyEntry
	err  error
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
	c := &keyCache{entries: map[string]*keyEntry{}, inflight: map[string]*keyLookup{}}
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

// lookup returns prefix's keys: from the cache while its entry is valid,
// else as read by load, made after versions v were read (the request's
// identity keeps them: Identity.seen). A miss joins a lookup of prefix in
// flight under the same versions, whose result is as fresh as a cached
// entry read after those versions; if that lookup fails, so does the
// request: load is its caller's no more than the others' (Authenticate:
// bounded by storeWait, not cut short by its caller's going), so the
// store failed, and a request reading it again after the wait would
// wait twice (a wave of them each waited out its own read, 17 s, and
// all failed).
func (c *keyCache) lookup(prefix string, load func() ([]KeyTeam, error)) (*keyEntry, versions, error) {
	v := c.versions()
	if !v.ok {
		readAt := time.Now()
		keys, err := load()
		// Served to this request alone; its team snapshot for as long
		// as one read a moment ago may be (snapshotTTL).
		return &keyEntry{keys: keys, readAt: readAt, until: readAt.Add(snapshotTTL), versions: v}, v, err
	}
	c.mu.Lock()
	if e := c.entries[prefix]; e != nil && e.versions == v && time.Now().Before(e.until) {
		c.mu.Unlock()
		return e, v, nil
	}
	if f := c.inflight[prefix]; f != nil && f.v == v {
		c.mu.Unlock()
		<-f.done
		return f.e, v, f.err
	}
	f := &keyLookup{v: v, done: make(chan struct{})}
	c.inflight[prefix] = f
	c.mu.Unlock()

	readAt := time.Now()
	keys, err := load()
	f.e, f.err = newKeyEntry(keys, readAt, v), err
	c.mu.Lock()
	if c.inflight[prefix] == f {
		delete(c.inflight, prefix)
	}
	// Unknown prefixes are not kept: they could fill the cache. A
	// change during the lookup leaves the entry stale at once, as it
	// should.
	if err == nil && len(keys) > 0 {
		if len(c.entries) >= maxKeyEntries {
			clear(c.entries)
		}
		c.entries[prefix] = f.e
	}
	c.mu.Unlock()
	close(f.done)
	return f.e, v, err
}

// changed invalidates this process's entries at once and announces the
// change to other processes.
func (c *keyCache) changed(ctx context.Context) error {
	c.local.Add(1)
	return c.announce(ctx)
}

// announce tells other processes of a change (Changes.Changed), without
// dropping this process's lookups again.
func (c *keyCache) announce(ctx context.Context) error {
	if c.changes == nil {
		return nil
	}
	return c.changes.Changed(ctx)
}
