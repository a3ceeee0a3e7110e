package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/stream"
)

// KeyPrefix starts every virtual key, so keys are recognisable in config
// files and secret scanners.
const KeyPrefix = "rk_"

// lookupLen is how much of a key is stored in clear for lookup: "rk_" and
// 8 random characters (40 bits), too little to help guess the rest.
const lookupLen = len(KeyPrefix) + 8

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix + 16 random base32 characters (80 bits).
func newID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + idEncoding.EncodeToString(b)
}

var idPattern = regexp.MustCompile(`^(team|key|job|call)_[a-z2-7]{16}$`)

// ValidID reports whether id is a well-formed id of the given kind
// ("team", "key", "job"). URLs' ids are checked with it before any lookup.
func ValidID(kind, id string) bool {
	return len(id) == len(kind)+17 && strings.HasPrefix(id, kind+"_") && idPattern.MatchString(id)
}

// newKey returns a new virtual key: "rk_" and 40 base32 characters (200 bits).
func newKey() string {
	b := make([]byte, 25)
	rand.Read(b)
	return KeyPrefix + idEncoding.EncodeToString(b)
}

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// LookupPrefix returns the part of a key that is stored in clear, or "" if
// s is too short to be a key.
func LookupPrefix(s string) string {
	if len(s) < lookupLen || !strings.HasPrefix(s, KeyPrefix) {
		return ""
	}
	return s[:lookupLen]
}

// KeyFromRequest returns the key in "Authorization: Bearer KEY" or
// "X-API-Key: KEY", or "".
func KeyFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// Authenticate resolves a key to an identity. The error never contains the
// key. Each call reads the store, so a revoked key fails on its next use.
func (s *Service) Authenticate(ctx context.Context, key string) (Identity, *stream.Error) {
	if key == "" {
		return Identity{}, stream.Errorf(stream.CodeUnauthorized, "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY")
	}
	if s.cfg.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.AdminKey)) == 1 {
		return Identity{Admin: true}, nil
	}
	prefix := LookupPrefix(key)
	if prefix == "" {
		return Identity{}, invalidKey()
	}
	// e.until is real time: it bounds the team snapshot's age.
	e, seen, err := s.keys.lookup(prefix, func() ([]KeyTeam, error) {
		// Shared by the requests that wait for it: not its caller's.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
		defer cancel()
		return s.store.AuthKeys(ctx, prefix)
	})
	if err != nil {
		return Identity{}, s.internal(err)
	}
	// On the stack: a key is longer than the 32 bytes a conversion may
	// keep there.
	var kb [64]byte
	plain := append(kb[:0], key...)
	for i := range e.keys {
		if !e.matches(i, plain) {
			continue
		}
		k := &e.keys[i].Key
		if !k.Revoked.IsZero() {
			return Identity{}, stream.Errorf(stream.CodeUnauthorized, "API key %s… has been revoked", k.Prefix)
		}
		// The lookup's own team: read only, shared by every request
		// served from the same cache entry.
		id := Identity{TeamID: k.TeamID, KeyID: k.ID, KeyLimits: k.Limits, team: &e.keys[i].Team, teamUntil: e.until, seen: seen}
		if i < len(e.scopes) {
			id.scopes = &e.scopes[i]
		}
		return id, nil
	}
	return Identity{}, invalidKey()
}

// invalidKey is built where it is returned: most requests carry a valid
// key, and a formatted error a call is an allocation and a Sprintf.
func invalidKey() *stream.Error {
	return &stream.Error{Code: stream.CodeUnauthorized, Message: "invalid API key"}
}

// Identity is who makes a request. The zero Identity is an anonymous
// caller, which only exists while auth is off.
type Identity struct {
	TeamID    string
	KeyID     string
	KeyLimits Limits
	Admin     bool // the admin key: no team, every team's data
	// team as read with the key, so admission needs no second query
	// (read only: the key cache's copy).
	team *Team
	// teamUntil is when team stops serving admission (keyEntry.until).
	teamUntil time.Time
	// seen are the change versions read when the key was checked; a
	// credit block admits the call without reading other processes'
	// again while they are the block's (blocks.admit).
	seen versions
	// scopes are the key's and its team's rate-limit scope ids, as made
	// with the lookup, or nil.
	scopes *scopeIDs
}

// KeyContext returns ctx carrying the identity of key keyID of team teamID,
// checked against the store as Authenticate checks a key: for credentials
// that name a key without holding it (a stream token this server signed).
// A key revoked or deleted since, or moved to another team, is an error, so
// a token outlives no key; the key's own limits apply to its calls.
func (s *Service) KeyContext(ctx context.Context, teamID, keyID string) (context.Context, *stream.Error) {
	readAt := time.Now()
	k, err := s.store.Key(ctx, keyID)
	switch {
	case errors.Is(err, ErrNotFound) || err == nil && k.TeamID != teamID:
		return nil, stream.Errorf(stream.CodeUnauthorized, "the API key this stream token was issued for no longer exists")
	case err != nil:
		return nil, s.internal(err)
	case !k.Revoked.IsZero():
		return nil, stream.Errorf(stream.CodeUnauthorized, "API key %s… has been revoked", k.Prefix)
	}
	t, err := s.store.Team(ctx, teamID)
	if err != nil {
		return nil, s.internal(err)
	}
	return NewContext(ctx, Identity{TeamID: teamID, KeyID: keyID, KeyLimits: k.Limits, team: &t, teamUntil: readAt.Add(snapshotTTL)}), nil
}

// Anonymous reports whether no credentials were given.
func (id Identity) Anonymous() bool { return id.TeamID == "" && !id.Admin }

type ctxKey int

const (
	identityKey ctxKey = iota
	authErrKey
	jobKey
	outcomeKey
)

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return &identityCtx{Context: ctx, id: id}
}

// FromContext returns the identity the auth middleware put in ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	c, ok := ctx.Value(identityKey).(*identityCtx)
	if !ok {
		return Identity{}, false
	}
	return c.id, true
}

// identityCtx is a context carrying an Identity: one allocation a
// request, where context.WithValue makes two (its node, and the Identity
// copied into an interface). Its value is itself, a pointer, so that
// reading it copies nothing to the heap either.
type identityCtx struct {
	context.Context
	id Identity
}

func (c *identityCtx) Value(key any) any {
	if key == any(identityKey) {
		return c
	}
	return c.Context.Value(key)
}

// AuthError returns the authentication failure the middleware found, if
// any. Handlers that do not go through the gateway check it themselves.
func AuthError(ctx context.Context) *stream.Error {
	e, _ := ctx.Value(authErrKey).(*stream.Error)
	return e
}

// WithJob returns ctx for a call made inside job j, as read by Job for
// the caller (so Admit needs no second read): the call is recorded in the
// job and paid by its reservation.
func WithJob(ctx context.Context, j Job) context.Context {
	return context.WithValue(ctx, jobKey, &j)
}

func jobFromContext(ctx context.Context) *Job {
	j, _ := ctx.Value(jobKey).(*Job)
	return j
}

// Middleware authenticates each request and puts the result in its
// context: the Identity, or (auth on, bad or missing key) the failure,
// which Admit returns so every dialect answers 401 in its own error shape.
// It never writes a response itself, so it needs to know no dialect.
// With auth off, a request without a valid key is anonymous: local
// clients that always send some key keep working.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(s.authContext(r)))
	})
}

// authContext is r's context with its caller's identity, or the reason
// it has none. Out of line: the handler's frame stays under every
// streaming call for its whole life, and a request goroutine's stack
// must stay within 8 KiB (docs/benchmarks.md, issue 13).
//
//go:noinline
func (s *Service) authContext(r *http.Request) context.Context {
	ctx := r.Context()
	switch id, err := s.Authenticate(ctx, KeyFromRequest(r)); {
	case err == nil:
		return NewContext(ctx, id)
	case s.cfg.Auth:
		return context.WithValue(ctx, authErrKey, err)
	default:
		return NewContext(ctx, Identity{})
	}
}

// Outcome receives the status of the call made with its context (see
// WithOutcome), for handlers that act on how a call ended.
type Outcome struct {
	// SettleJob, set before the call, settles the call's job in the
	// transaction that stores its record: completed if the call ended
	// well, else failed. create-and-call-stream sets it, so that its job
	// is paid before the response's final bytes.
	SettleJob bool

	mu     sync.Mutex
	status string
	callID string
}

// Status is the call's record status ("ok", "error", "cancelled",
// "timeout"), or "" if no call was recorded.
func (o *Outcome) Status() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status
}

// CallID is the recorded call's id, or "".
func (o *Outcome) CallID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.callID
}

func (o *Outcome) set(status, callID string) {
	o.mu.Lock()
	o.status, o.callID = status, callID
	o.mu.Unlock()
}

// WithOutcome returns ctx whose call, once recorded, reports to o.
func WithOutcome(ctx context.Context, o *Outcome) context.Context {
	return context.WithValue(ctx, outcomeKey, o)
}
