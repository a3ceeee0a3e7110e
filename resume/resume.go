// Package resume keeps the output of resumable streams so that a client
// whose connection broke can reconnect and continue where it left off. A
// Session is a bounded log of encoded frames written by the stream's
// producer and read by at most one attached client at a time; while no
// client is attached, a grace timer bounds how long the generation runs on.
// It knows nothing of HTTP.
package resume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultGrace       = 10 * time.Second
	DefaultRetain      = 2 * time.Minute
	DefaultMaxBytes    = 4 << 20
	DefaultMaxSessions = 10000
	DefaultAhead       = 64
	DefaultBudget      = 256 << 20
	DefaultHeartbeat   = time.Second
)

// Options configure a Registry. Zero values take the defaults.
type Options struct {
	// Grace is how long a generation runs on with no client attached
	// before it is cancelled.
	Grace time.Duration
	// Retain is how long a finished session can still be resumed.
	Retain time.Duration
	// MaxBytes caps a session's log. Past it the session is no longer
	// resumable: it serves its attached client and nobody else (a resume
	// gets ErrTooLarge until the session is dropped).
	MaxBytes int
	// MaxSessions caps the sessions held at once (finished ones are
	// dropped first to make room).
	MaxSessions int
	// Ahead is how many frames the producer may run ahead of an attached
	// client before it waits: the log is not a way round backpressure.
	Ahead int
	// Budget caps the bytes of all logs held in this process. Past it the
	// finished logs go first, oldest finished first; if that is not
	// enough, the stream writing is no longer resumable (as past
	// MaxBytes). Logs in Shared do not count once finished: they leave
	// memory at once.
	Budget int64
	// Shared, when set, keeps every log where all replicas read it too
	// (Redis): a stream resumes, and is cancelled, on any replica. nil
	// keeps logs in this process only.
	Shared Shared
	// Replica names this process in Shared (random when empty); Heartbeat
	// is how often it says it is alive (DefaultHeartbeat when 0). A
	// replica silent for three heartbeats is taken for dead, and its
	// running streams end with an interruption.
	Replica   string
	Heartbeat time.Duration
	// Interrupted encodes the terminal events of a stream of kind whose
	// replica died, numbered from seq on, one frame each (nil: a bare SSE
	// error event).
	Interrupted func(kind, id string, seq uint64) [][]byte
	// Continue is called on the one replica that claimed the stream of a
	// replica that died (Shared.Claim), with the stream as its log has
	// it and the nonce of the client that found it dead: to continue the
	// generation here (Registry.Adopt). false means it cannot; the stream
	// then ends with the Interrupted events and Orphaned is called. nil
	// never continues.
	Continue func(ctx context.Context, o Orphan, nonce string) bool
	// Orphaned is called once per stream whose replica died, on the one
	// replica that ended its log with the Interrupted events, before its
	// reader sees the end: to record the call, from what the dead replica
	// described (Session.Describe) and noted (Session.Note).
	Orphaned func(ctx context.Context, o Orphan)
}

// Errors a Registry or Session returns. ErrNotFound covers unknown,
// expired and not-owned ids alike, so a guess learns nothing.
var (
	ErrNotFound    = errors.New("resume: no such stream (unknown, expired or not yours)")
	ErrTooLarge    = errors.New("resume: the stream outgrew its replay log and can no longer be resumed")
	ErrFull        = errors.New("resume: too many resumable streams")
	ErrTakenOver   = errors.New("resume: another client resumed the stream")
	ErrExpired     = errors.New("resume: no client came back within the grace period")
	ErrCancelled   = errors.New("resume: the stream was cancelled")
	ErrBadPosition = errors.New("resume: the stream has no such event")
)

// timer is what time.AfterFunc returns, so tests can fire timers by hand.
type timer interface{ Stop() bool }

// Registry holds sessions by id. It is safe for concurrent use.
type Registry struct {
	o         Options
	afterFunc func(time.Duration, func()) timer

	mu       sync.Mutex
	sessions map[string]*Session
	held     int64      // bytes of all sessions' logs (Session.held)
	finished []*Session // in the order they finished, for the budget

	sharing *sharing // nil without Options.Shared
}

// NewRegistry returns an empty Registry.
func NewRegistry(o Options) *Registry {
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Retain <= 0 {
		o.Retain = DefaultRetain
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.Ahead <= 0 {
		o.Ahead = DefaultAhead
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Replica == "" {
		o.Replica = randomHex(8)
	}
	r := &Registry{o: o, sessions: map[string]*Session{},
		afterFunc: func(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }}
	if o.Shared != nil {
		r.sharing = newSharing(r)
	}
	return r
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Options returns the registry's options, defaults filled in.
func (r *Registry) Options() Options { return r.o }

// Open starts a session for owner ("" when auth is off) serving streams of
// kind (an endpoint name: a session resumes only on the endpoint that made
// it). cancel stops the generation; it is called when the grace period
// runs out, and when the session finishes.
func (r *Registry) Open(owner, kind string, cancel func()) (*Session, error) {
	s := &Session{id: "rs_" + randomHex(16), owner: owner, kind: kind, reg: r, cancel: cancel,
		first: 1, wake: make(chan struct{})}
	r.mu.Lock()
	if len(r.sessions) >= r.o.MaxSessions {
		for _, old := range r.finished {
			old.stopTimer()
			r.drop(old)
		}
		r.finished = nil
		if len(r.sessions) >= r.o.MaxSessions {
			r.mu.Unlock()
			return nil, ErrFull
		}
	}
	r.sessions[s.id] = s
	r.mu.Unlock()
	if r.sharing != nil {
		if err := r.sharing.create(s); err != nil {
			r.remove(s)
			return nil, err
		}
	}
	return s, nil
}

// Get returns the session id of owner and kind, or ErrNotFound.
func (r *Registry) Get(id, owner, kind string) (*Session, error) {
	r.mu.Lock()
	s := r.sessions[id]
	r.mu.Unlock()
	if s == nil || s.owner != owner || s.kind != kind {
		return nil, ErrNotFound
	}
	return s, nil
}

// Cancel cancels the session id of owner, whatever its kind (see
// Session.Cancel), or returns ErrNotFound.
func (r *Registry) Cancel(id, owner string) error {
	r.mu.Lock()
	s := r.sessions[id]
	r.mu.Unlock()
	if s == nil && r.sharing != nil {
		return r.sharing.cancel(id, owner)
	}
	if s == nil || s.owner != owner {
		return ErrNotFound
	}
	s.Cancel()
	return nil
}

// Held returns the bytes of the logs held in this process.
func (r *Registry) Held() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// Len returns how many sessions are held.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

func (r *Registry) remove(s *Session) {
	r.mu.Lock()
	r.drop(s)
	if i := slices.Index(r.finished, s); i >= 0 {
		r.finished = slices.Delete(r.finished, i, i+1)
	}
	r.mu.Unlock()
}

// drop forgets s and its bytes. Called with mu held.
func (r *Registry) drop(s *Session) {
	if r.sessions[s.id] == s {
		delete(r.sessions, s.id)
	}
	r.held -= s.held
	s.held = 0
}

// reserve counts n more bytes of s's log against the budget, dropping
// finished sessions (oldest first) to make room. false means there is no
// room even so. Called with s.mu held (never the other way round).
func (r *Registry) reserve(s *Session, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.held+int64(n) > r.o.Budget && len(r.finished) > 0 {
		old := r.finished[0]
		r.finished[0] = nil // the array outlives the slice: let old go
		r.finished = r.finished[1:]
		old.stopTimer()
		r.drop(old)
	}
	if r.held+int64(n) > r.o.Budget {
		return false
	}
	r.held += int64(n)
	s.held += int64(n)
	return true
}

// release uncounts n bytes of s's log (trimmed). Called with s.mu held.
func (r *Registry) release(s *Session, n int) {
	r.mu.Lock()
	n = min(n, int(s.held))
	r.held -= int64(n)
	s.held -= int64(n)
	r.mu.Unlock()
}

// finish queues s, finished, for the budget's eviction.
func (r *Registry) finish(s *Session) {
	r.mu.Lock()
	if r.sessions[s.id] == s {
		r.finished = append(r.finished, s)
	}
	r.mu.Unlock()
}

// Session is one resumable stream. Its producer calls Append for every
// frame and Finish at the end; clients Attach, read with Next and Close.
type Session struct {
	id, owner, kind string
	reg             *Registry
	cancel          func()

	mu       sync.Mutex
	frames   [][]byte // frames[i] has sequence number first+i
	arena    []byte   // the block frames are copied into (see copyFrame)
	first    uint64
	bytes    int
	overflow bool // past MaxBytes: frames are dropped once the client has them
	done     bool
	gone     error // ErrExpired or ErrCancelled: nobody can read the log any more
	client   *Client
	timer    timer         // grace (while detached) or retain (once done)
	wake     chan struct{} // closed and replaced on every change
	remote   string        // the client attached on another replica, if any
	// attached is when the latest client (here or remote) attached, in
	// Unix nanoseconds: an attach message older than it is stale.
	attached int64
	shared   bool // the log is also in Shared (until it outgrew it)
	// refreshed is when the shared log's expiry was last pushed back;
	// only the producer uses it.
	refreshed time.Time
	pending   []byte // noted for the next shared frame
	// adopted: a dead replica's stream this one continues (Registry.Adopt);
	// events up to skip are logged already.
	adopted bool
	skip    uint64

	held int64 // bytes counted against the budget; guarded by reg.mu
}

// ID is the session's unguessable id.
func (s *Session) ID() string { return s.id }

// next is the sequence number of the next frame. Called with mu held.
func (s *Session) next() uint64 { return s.first + uint64(len(s.frames)) }

// signal wakes every waiter. Called with mu held.
func (s *Session) signal() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *Session) stopTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// Append adds frame (copied) as event seq, which must follow the last one.
// It waits while an attached client is Ahead frames behind. An error means
// nobody can ever read the frame (the grace period ran out, or the log
// overflowed with no client attached): the producer should stop.
func (s *Session) Append(seq uint64, frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.skip {
		return nil // an adopted stream's event, logged before (see Adopt)
	}
	for s.client != nil && s.gone == nil && s.next()-1-s.client.pos >= uint64(s.reg.o.Ahead) {
		ch := s.wake
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
	if s.gone != nil {
		return s.gone
	}
	if seq != s.next() {
		return ErrBadPosition
	}
	if !s.overflow && (s.bytes+len(frame) > s.reg.o.MaxBytes || !s.reg.reserve(s, len(frame))) {
		s.overflow = true
	}
	if s.overflow {
		if s.client == nil {
			return ErrTooLarge
		}
		s.trim()
	}
	if s.shared && s.overflow {
		// Only this process has the rest: nobody else can resume it.
		s.shared = false
		s.mu.Unlock()
		s.reg.sharing.end(s.id, endTooLarge)
		s.mu.Lock()
	}
	if s.shared {
		// Shared first: a frame a client has seen is one every replica
		// can replay. The producer is the only writer, so the lock can
		// go for the round trip.
		s.mu.Unlock()
		err := s.reg.sharing.append(s, seq, frame)
		s.mu.Lock()
		if err != nil {
			return err
		}
		s.pending = s.pending[:0]
	}
	s.frames = append(s.frames, s.copyFrame(frame))
	s.bytes += len(frame)
	s.signal()
	return nil
}

// Note adds note (copied) to what is logged beside the next frame: with
// Shared, so that a replica ending or continuing the stream after this one
// died knows what was served (Options.Orphaned, Options.Continue); without
// it, notes are not kept. Only the producer calls it.
func (s *Session) Note(note []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared {
		s.pending = append(s.pending, note...)
	}
}

// Shared reports whether the session's log is also kept in Shared (where
// notes go).
func (s *Session) Shared() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shared
}

// Describe keeps call (the caller's account of the generation: opaque
// here) where every replica finds it, for Options.Orphaned. Without
// Shared it does nothing.
func (s *Session) Describe(call []byte) error {
	s.mu.Lock()
	shared := s.shared
	s.mu.Unlock()
	if !shared {
		return nil
	}
	ctx, cancel := s.reg.sharing.ctx()
	defer cancel()
	return s.reg.sharing.s.Describe(ctx, s.id, call)
}

// arenaSize is the size of the blocks frames are copied into: one
// allocation per many frames, not one each (which costs a third more heap
// than the frames' bytes).
const arenaSize = 64 << 10

// copyFrame copies frame into the session's current arena block. Called
// with mu held.
func (s *Session) copyFrame(frame []byte) []byte {
	if len(frame) > arenaSize/4 {
		return append([]byte(nil), frame...)
	}
	if cap(s.arena)-len(s.arena) < len(frame) {
		s.arena = make([]byte, 0, arenaSize)
	}
	n := len(s.arena)
	s.arena = append(s.arena, frame...)
	return s.arena[n:len(s.arena):len(s.arena)]
}

// trim drops the frames the attached client has, once the log overflowed.
// Called with mu held.
func (s *Session) trim() {
	n, freed := 0, 0
	for n < len(s.frames) && s.first+uint64(n) <= s.client.pos {
		freed += len(s.frames[n])
		s.frames[n] = nil
		n++
	}
	s.bytes -= freed
	s.reg.release(s, freed)
	s.frames = s.frames[n:]
	s.first += uint64(n)
}

// Discard drops a session whose stream never started (its call failed).
func (s *Session) Discard() {
	s.Finish()
	s.stopTimer()
	s.reg.remove(s)
}

// Abandon drops an adopted session whose generation did not start,
// leaving the shared log as it was: its stream ends with the interruption.
func (s *Session) Abandon() {
	s.mu.Lock()
	s.shared = false
	s.mu.Unlock()
	s.Discard()
}

// Finish marks the stream complete: clients get the remaining frames and
// then io.EOF. The session stays resumable for Retain. It releases the
// generation's context.
func (s *Session) Finish() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	// A shared log is resumed from the store once finished: it need not
	// stay in memory.
	drop := s.gone != nil || s.shared
	if !drop {
		s.timer = s.reg.afterFunc(s.reg.o.Retain, func() { s.reg.remove(s) })
	}
	shared, gone := s.shared, s.gone
	s.signal()
	s.mu.Unlock()
	if shared && gone == nil {
		s.reg.sharing.end(s.id, endDone)
	}
	if drop {
		s.reg.remove(s)
	} else {
		s.reg.finish(s)
	}
	s.cancel()
}

// Done reports whether the stream finished and after is its last event:
// a client there has everything.
func (s *Session) Done(after uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done && after == s.next()-1
}

// Attach makes a new client, which has the events up to after (0 for
// none), the session's one client. A client already attached is taken
// over: its Next returns ErrTakenOver.
func (s *Session) Attach(after uint64) (*Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.gone != nil:
		return nil, ErrNotFound
	case s.overflow:
		return nil, ErrTooLarge
	case after >= s.next():
		return nil, ErrBadPosition
	}
	if s.client != nil {
		s.client.takenOver = true
	}
	if s.timer != nil && !s.done {
		s.timer.Stop() // the grace period: a client is back
		s.timer = nil
	}
	c := &Client{s: s, pos: after}
	s.client = c
	s.attached = time.Now().UnixNano()
	if s.remote != "" {
		s.remote = ""
		// The remote client is taken over; not a round trip under mu.
		go s.reg.sharing.publish(ctlAttach, s.id, "", s.attached)
	}
	s.signal()
	return c, nil
}

// expire ends a session nobody came back to: the generation is cancelled.
func (s *Session) expire() {
	s.mu.Lock()
	if s.client != nil || s.remote != "" || s.done || s.gone != nil {
		s.mu.Unlock()
		return
	}
	s.gone = ErrExpired
	s.timer = nil
	s.signal()
	shared := s.shared
	s.mu.Unlock()
	if shared {
		s.reg.sharing.end(s.id, endExpired)
	}
	s.reg.remove(s)
	s.cancel()
}

// Cancel ends the session at a client's request: the generation is
// cancelled now rather than after the grace period, the session can no
// longer be resumed, and an attached client's Next returns ErrCancelled.
func (s *Session) Cancel() {
	s.mu.Lock()
	if s.gone == nil {
		s.gone = ErrCancelled
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.signal()
	shared := s.shared && !s.done
	s.mu.Unlock()
	if shared {
		s.reg.sharing.end(s.id, endCancelled)
	}
	s.reg.remove(s)
	s.cancel()
}

// Client reads a session's frames from its position on.
type Client struct {
	s         *Session
	pos       uint64 // the last sequence number handed out
	takenOver bool   // guarded by s.mu
	closed    bool   // guarded by s.mu
}

// Next appends to dst the frames after the client's position, waiting for
// some when there are none yet. It returns io.EOF after the last frame of a
// finished stream, ErrTakenOver once another client attached,
// ErrCancelled once the session was cancelled, or ctx's error.
func (c *Client) Next(ctx context.Context, dst [][]byte) ([][]byte, error) {
	s := c.s
	for {
		s.mu.Lock()
		switch {
		case c.takenOver:
			s.mu.Unlock()
			return dst, ErrTakenOver
		case s.gone != nil:
			err := s.gone
			s.mu.Unlock()
			return dst, err
		case c.pos+1 < s.next():
			dst = append(dst, s.frames[c.pos+1-s.first:]...)
			c.pos = s.next() - 1
			if s.overflow {
				s.trim()
			}
			s.signal() // the producer may be waiting for us
			s.mu.Unlock()
			return dst, nil
		case s.done:
			s.mu.Unlock()
			return dst, io.EOF
		}
		ch := s.wake
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
}

// Close detaches the client. If it was the session's client and the stream
// is still running, the grace period starts. Safe to call more than once.
func (c *Client) Close() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if s.client != c {
		return
	}
	s.client = nil
	s.detached()
	s.signal()
}

// detached starts the grace period if no client is attached anywhere.
// Called with mu held.
func (s *Session) detached() {
	if s.client == nil && s.remote == "" && !s.done && s.gone == nil && s.timer == nil {
		s.timer = s.reg.afterFunc(s.reg.o.Grace, s.expire)
	}
}

// FormatID is the SSE id of event seq of stream id: "<id>-<seq>".
func FormatID(id string, seq uint64) string {
	return id + "-" + strconv.FormatUint(seq, 10)
}

// ValidID reports whether id has the form of a session's id: rs_ and 32
// lowercase hex digits.
func ValidID(id string) bool {
	if len(id) != len("rs_")+32 || !strings.HasPrefix(id, "rs_") {
		return false
	}
	for j := 3; j < len(id); j++ {
		if c := id[j]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseID splits a Last-Event-ID of the form FormatID writes. ok is false
// for anything else (a plain number from a non-resumable stream, garbage).
func ParseID(s string) (id string, seq uint64, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 || !ValidID(s[:i]) {
		return "", 0, false
	}
	id, num := s[:i], s[i+1:]
	if num == "" || num[0] == '+' || len(num) > 1 && num[0] == '0' {
		return "", 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id, n, true
}
