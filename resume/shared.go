package resume

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shared is a store of logs that every replica reads (Redis, see
// resume/redislog), with a control channel between replicas and their
// heartbeats. A log's events are numbered from 1; once ended (End) it
// takes no more.
type Shared interface {
	// Create records a new stream, among those of m.Replica (Streams).
	// ttl bounds how long its log is kept after its last write.
	Create(ctx context.Context, id string, m Meta, ttl time.Duration) error
	// Append adds frame as event seq and, unless ttl is 0, makes the
	// stream's log and meta live ttl from now; note is kept beside it
	// (Session.Note). ErrExists if the log already has an event seq (or
	// a later one) or has ended.
	Append(ctx context.Context, id string, seq uint64, frame, note []byte, ttl time.Duration) error
	// Describe adds call (Session.Describe) to the stream's meta.
	Describe(ctx context.Context, id string, call []byte) error
	// Notes joins the notes of the log's events, in order.
	Notes(ctx context.Context, id string) ([]byte, error)
	// Claim makes replica the one generating stream id if dead still is
	// (Meta.Replica), atomically: of replicas racing to take over a dead
	// one's stream, one gets true. The stream moves to replica's Streams.
	Claim(ctx context.Context, id, dead, replica string) (bool, error)
	// End closes the log with status (one of the End* constants) and
	// takes it out of the Streams of replica (the one ending it: a stream
	// ended elsewhere leaves its replica's Streams when that replica ends
	// its session, or, if it died, by the sweeper). ErrExists if it had
	// ended already.
	End(ctx context.Context, id, replica, status string, ttl time.Duration) error
	// Meta returns what Create recorded, or ErrNotFound.
	Meta(ctx context.Context, id string) (Meta, error)
	// Tail returns the number of the log's last event and, if the log
	// ended, its status.
	Tail(ctx context.Context, id string) (last uint64, end string, err error)
	// Read appends to dst the events after event after, waiting up to
	// block for one. end is the log's status once dst reaches its end.
	Read(ctx context.Context, id string, after uint64, block time.Duration, dst [][]byte) (_ [][]byte, end string, err error)
	// Publish sends msg to every replica's Subscribe.
	Publish(ctx context.Context, msg string) error
	// Subscribe calls f with every message published until ctx is done;
	// ready is called once messages are being received.
	Subscribe(ctx context.Context, ready func(), f func(msg string)) error
	// Beat says replica is alive for ttl; Alive asks whether it is.
	Beat(ctx context.Context, replica string, ttl time.Duration) error
	Alive(ctx context.Context, replica string) (bool, error)
	// Replicas lists the replicas that may have Streams; Streams lists
	// the streams created or claimed by replica and not ended (some may
	// have expired meanwhile). Both are for the sweeper, which settles
	// the streams of dead replicas that no client came back to.
	Replicas(ctx context.Context) ([]string, error)
	Streams(ctx context.Context, replica string) ([]string, error)
	// Forget takes stream id out of replica's Streams; with id "", it
	// takes replica out of Replicas if it has no Streams and is not
	// Alive, atomically (a replica that came back keeps its place).
	Forget(ctx context.Context, replica, id string) error
}

// Meta is what every replica knows of a stream.
type Meta struct {
	Owner, Kind string
	Replica     string // the one generating it
	Call        []byte // what it said of the generation (Session.Describe), or nil
}

// Orphan is a stream whose replica died, as its log has it (see
// Options.Orphaned).
type Orphan struct {
	ID, Kind, Owner string
	Call            []byte
	Notes           []byte // the notes of its logged events (Session.Note)
	Last            uint64 // the number of its last logged event
}

// ErrExists is returned by Shared for an event or end already written.
var ErrExists = errors.New("resume: the log already has that event")

// ErrComplete is returned by Registry.Resume to a client that has every
// event of a finished stream.
var ErrComplete = errors.New("resume: the client has the whole stream")

// How a shared log ended.
const (
	endDone        = "done"
	endCancelled   = "cancelled"
	endExpired     = "expired"
	endTooLarge    = "too_large"
	endInterrupted = "interrupted" // its replica died; the log ends with an error event
)

// Control messages between replicas: "verb|stream id|client nonce|time".
// An attach's time (Unix nanoseconds) orders it against the clients it may
// take over: pub/sub delivers late, and a late attach must not take over a
// client that attached after it.
const (
	ctlCancel = "cancel" // stop the generation
	ctlAttach = "attach" // a client attached (nonce: "" on the generating replica)
	ctlDetach = "detach" // that client left
)

// sharing is a Registry's side of Shared: heartbeats, control messages
// and the clients that follow a log generated on another replica.
type sharing struct {
	r    *Registry
	s    Shared
	stop context.CancelFunc
	done sync.WaitGroup

	mu        sync.Mutex
	followers map[string]map[*remoteClient]struct{} // by stream id
}

func newSharing(r *Registry) *sharing {
	ctx, stop := context.WithCancel(context.Background())
	sh := &sharing{r: r, s: r.o.Shared, stop: stop, followers: map[string]map[*remoteClient]struct{}{}}
	ready := make(chan struct{})
	sh.done.Add(3)
	go func() {
		defer sh.done.Done()
		sh.sweeper(ctx)
	}()
	go func() {
		defer sh.done.Done()
		var once sync.Once
		for ctx.Err() == nil {
			err := sh.s.Subscribe(ctx, func() { once.Do(func() { close(ready) }) }, sh.handle)
			if ctx.Err() == nil {
				slog.Warn("resume: control channel lost; resubscribing", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	go func() {
		defer sh.done.Done()
		t := time.NewTicker(r.o.Heartbeat)
		defer t.Stop()
		for {
			if err := sh.s.Beat(ctx, r.o.Replica, 3*r.o.Heartbeat); err != nil && ctx.Err() == nil {
				slog.Warn("resume: heartbeat failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	// Messages published before the subscription is live would be lost;
	// wait for it, boundedly (a store that is down is reported by its
	// first use).
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	}
	return sh
}

// Close stops the registry's heartbeat and control subscription (with
// Shared set): other replicas will take its running streams for
// interrupted once its heartbeat expires.
func (r *Registry) Close() {
	if r.sharing != nil {
		r.sharing.stop()
		r.sharing.done.Wait()
	}
}

// Adopt makes this replica the writer of o, a stream whose replica died
// and which it claimed (Options.Continue): a session whose producer writes
// the stream's events from 1 again, of which those up to o.Last, already
// logged, are skipped. The client of nonce, which follows the log, holds
// its grace period as a client attached would. cancel stops the
// generation.
func (r *Registry) Adopt(o Orphan, nonce string, cancel func()) (*Session, error) {
	if r.sharing == nil {
		return nil, ErrNotFound
	}
	s := &Session{id: o.ID, owner: o.Owner, kind: o.Kind, reg: r, cancel: cancel,
		first: o.Last + 1, skip: o.Last, wake: make(chan struct{}), shared: true, adopted: true, remote: nonce}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions[s.id] != nil {
		return nil, ErrExists
	}
	r.sessions[s.id] = s
	return s, nil
}

// Replica is the registry's name in Shared.
func (r *Registry) Replica() string { return r.o.Replica }

// ttl is how long a shared log lives after its last write.
func (sh *sharing) ttl() time.Duration { return sh.r.o.Grace + sh.r.o.Retain }

func (sh *sharing) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func (sh *sharing) create(s *Session) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.s.Create(ctx, s.id, Meta{Owner: s.owner, Kind: s.kind, Replica: sh.r.o.Replica}, sh.ttl()); err != nil {
		return err
	}
	s.shared = true
	return nil
}

func (sh *sharing) append(s *Session, seq uint64, frame []byte) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	// The log's expiry is pushed back now and then, not on every frame:
	// one command per frame.
	var ttl time.Duration
	if now := time.Now(); now.Sub(s.refreshed) > sh.ttl()/4 {
		ttl, s.refreshed = sh.ttl(), now
	}
	err := sh.s.Append(ctx, s.id, seq, frame, s.pending, ttl)
	if errors.Is(err, ErrExists) {
		// Another replica ended the log (a cancel from it, or it took
		// this one for dead): nobody will read what follows.
		return ErrCancelled
	}
	return err
}

func (sh *sharing) end(id, status string) {
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.s.End(ctx, id, sh.r.o.Replica, status, sh.ttl()); err != nil && !errors.Is(err, ErrExists) {
		slog.Warn("resume: ending a shared log", "stream", id, "err", err)
	}
}

func (sh *sharing) publish(verb, id, nonce string, at int64) {
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.s.Publish(ctx, verb+"|"+id+"|"+nonce+"|"+strconv.FormatInt(at, 10)); err != nil {
		slog.Warn("resume: publishing to other replicas", "verb", verb, "stream", id, "err", err)
	}
}

// cancel cancels stream id, generated on another replica (or finished).
func (sh *sharing) cancel(id, owner string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	m, err := sh.s.Meta(ctx, id)
	if err != nil {
		return err
	}
	if m.Owner != owner {
		return ErrNotFound
	}
	if _, end, err := sh.s.Tail(ctx, id); err != nil {
		return err
	} else if end != "" {
		return nil // nothing runs any more
	}
	// Ending the log first makes the generating replica's next write
	// fail even if the message is lost; the message stops it at once.
	sh.end(id, endCancelled)
	sh.publish(ctlCancel, id, "", time.Now().UnixNano())
	return nil
}

// handle acts on a control message.
func (sh *sharing) handle(msg string) {
	verb, rest, _ := strings.Cut(msg, "|")
	id, rest, _ := strings.Cut(rest, "|")
	nonce, ts, _ := strings.Cut(rest, "|")
	at, _ := strconv.ParseInt(ts, 10, 64)
	sh.r.mu.Lock()
	s := sh.r.sessions[id]
	sh.r.mu.Unlock()
	switch verb {
	case ctlCancel:
		if s != nil {
			s.Cancel()
		}
		sh.eachFollower(id, "", func(c *remoteClient) { c.cancel(ErrCancelled) })
	case ctlAttach:
		if s != nil && nonce != "" {
			s.mu.Lock()
			if at < s.attached { // stale: a newer client is attached
				s.mu.Unlock()
				break
			}
			s.attached = at
			if s.client != nil {
				s.client.takenOver = true
				s.client = nil
			}
			if s.timer != nil && !s.done {
				s.timer.Stop()
				s.timer = nil
			}
			s.remote = nonce
			s.signal()
			s.mu.Unlock()
		}
		sh.eachFollower(id, nonce, func(c *remoteClient) {
			if c.since < at {
				c.cancel(ErrTakenOver)
			}
		})
	case ctlDetach:
		if s != nil {
			s.mu.Lock()
			if s.remote == nonce {
				s.remote = ""
				s.detached()
			}
			s.mu.Unlock()
		}
	}
}

// eachFollower calls f for the clients of stream id on this replica but
// the one of nonce.
func (sh *sharing) eachFollower(id, nonce string, f func(*remoteClient)) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for c := range sh.followers[id] {
		if c.nonce != nonce {
			f(c)
		}
	}
}

// Reader reads a stream's frames from a position on: a Client of a
// session in this process, or one following a shared log.
type Reader interface {
	// Next appends to dst the frames after the reader's position,
	// waiting for some when there are none yet (see Client.Next).
	Next(ctx context.Context, dst [][]byte) ([][]byte, error)
	// Close detaches the reader.
	Close()
}

// Resume attaches a reader, which has the events up to after, to stream
// id of owner and kind, wherever it is generated. ErrComplete means the
// reader would have nothing to read: the stream finished at after.
func (r *Registry) Resume(id, owner, kind string, after uint64) (Reader, error) {
	// An adopted session holds only what it wrote itself: its readers
	// follow the shared log.
	if s, err := r.Get(id, owner, kind); err == nil && !s.adopted {
		if s.Done(after) {
			return nil, ErrComplete
		}
		return s.Attach(after)
	} else if r.sharing == nil {
		return nil, err
	}
	return r.sharing.resume(id, owner, kind, after)
}

func (sh *sharing) resume(id, owner, kind string, after uint64) (Reader, error) {
	ctx, cancel := sh.ctx()
	defer cancel()
	m, err := sh.s.Meta(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Owner != owner || m.Kind != kind {
		return nil, ErrNotFound
	}
	last, end, err := sh.s.Tail(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case end == endTooLarge:
		return nil, ErrTooLarge
	case end == endCancelled || end == endExpired:
		return nil, ErrNotFound
	case after > last:
		return nil, ErrBadPosition
	case end != "" && after == last:
		return nil, ErrComplete
	}
	c := &remoteClient{sh: sh, id: id, kind: kind, replica: m.Replica, pos: after, nonce: randomHex(8),
		since: time.Now().UnixNano(), stop: make(chan struct{})}
	sh.mu.Lock()
	if sh.followers[id] == nil {
		sh.followers[id] = map[*remoteClient]struct{}{}
	}
	sh.followers[id][c] = struct{}{}
	sh.mu.Unlock()
	if end == "" {
		sh.publish(ctlAttach, id, c.nonce, c.since)
	}
	return c, nil
}

// remoteClient follows a shared log: blocking reads, and between them a
// look at whether the generating replica is still alive.
type remoteClient struct {
	sh                *sharing
	id, kind, replica string
	pos               uint64
	nonce             string
	since             int64 // when it attached, Unix nanoseconds
	mu                sync.Mutex
	err               error         // ErrTakenOver or ErrCancelled, once stop is closed
	stop              chan struct{} // closed by cancel
	closed            bool          // guarded by sh.mu
}

func (c *remoteClient) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.stop)
	}
}

func (c *remoteClient) Next(ctx context.Context, dst [][]byte) ([][]byte, error) {
	// stop (a takeover, a cancel) ends a blocked read at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		n := len(dst)
		var (
			end string
			err error
		)
		dst, end, err = c.sh.s.Read(ctx, c.id, c.pos, c.sh.r.o.Heartbeat, dst)
		c.pos += uint64(len(dst) - n)
		select {
		case <-c.stop:
			c.mu.Lock()
			err = c.err
			c.mu.Unlock()
			return dst, err
		default:
		}
		switch {
		case err != nil:
			return dst, err
		case len(dst) > n:
			return dst, nil
		case end == endDone || end == endInterrupted:
			return dst, io.EOF
		case end == endCancelled:
			return dst, ErrCancelled
		case end == endExpired:
			return dst, ErrExpired
		case end != "":
			return dst, ErrTooLarge
		}
		// A heartbeat's silence: is the generating replica alive, and
		// its log still there (a replica that lost Redis for longer than
		// the log's TTL leaves it to expire unended)?
		alive, err := c.sh.s.Alive(ctx, c.replica)
		if err != nil {
			return dst, err
		}
		m, err := c.sh.s.Meta(ctx, c.id)
		if errors.Is(err, ErrNotFound) {
			return dst, ErrExpired
		}
		if err != nil {
			return dst, err
		}
		if m.Replica != c.replica {
			c.replica = m.Replica // another replica took the stream over
			continue
		}
		if !alive {
			c.takeOver(ctx)
		}
	}
}

// takeOver continues, on this replica, the generation of a stream whose
// replica died, if Options.Continue can; else it ends the stream with the
// interruption. With Continue set, replicas racing here claim the stream
// first: one goes on, the others follow it.
func (c *remoteClient) takeOver(ctx context.Context) {
	f := c.sh.r.o.Continue
	if f == nil {
		c.interrupt(ctx)
		return
	}
	ok, err := c.sh.s.Claim(ctx, c.id, c.replica, c.sh.r.o.Replica)
	if err != nil || !ok {
		return // the next round retries, or follows the replica that claimed it
	}
	c.replica = c.sh.r.o.Replica
	o, err := c.orphan(ctx)
	if err == nil && f(ctx, o, c.nonce) {
		slog.Warn("resume: the replica generating a stream is gone; continuing it here", "stream", c.id, "after", o.Last)
		return
	}
	c.interrupt(ctx)
}

// interrupt ends the log of a stream whose replica died, with the
// dialect's error event after the last event logged.
func (c *remoteClient) interrupt(ctx context.Context) {
	c.sh.interrupt(ctx, c.id, c.kind, c.replica, c.pos)
}

// interrupt ends the log of stream id of kind, whose replica died, with
// the dialect's error event after event last, and records its call
// (Options.Orphaned). Several readers, and sweepers, may race: the log
// takes the first End, and only its writer records the call. false means
// the log did not end (gone, or Redis failed).
func (sh *sharing) interrupt(ctx context.Context, id, kind, dead string, last uint64) bool {
	if _, err := sh.s.Meta(ctx, id); err != nil {
		return false // expired meanwhile: the next read says so
	}
	frames := sh.interrupted(kind, id, last+1)
	slog.Warn("resume: the replica generating a stream is gone; ending it with an error", "stream", id, "replica", dead)
	for i, f := range frames {
		if err := sh.s.Append(ctx, id, last+1+uint64(i), f, nil, sh.ttl()); err != nil {
			if i == 0 && !errors.Is(err, ErrExists) {
				return false
			}
			break // another reader wrote them
		}
	}
	err := sh.s.End(ctx, id, sh.r.o.Replica, endInterrupted, sh.ttl())
	switch {
	case errors.Is(err, ErrExists):
		return true // another reader ended it, and records it
	case err != nil:
		slog.Warn("resume: ending an interrupted stream", "stream", id, "err", err)
		return false
	}
	if f := sh.r.o.Orphaned; f != nil {
		// The one replica whose End went in records the call, before its
		// reader sees the end. A client gone meanwhile does not stop it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o, err := sh.orphan(ctx, id)
		if err != nil {
			slog.Error("resume: reading an interrupted stream's log; its call is not recorded", "stream", id, "err", err)
			return true
		}
		f(ctx, o)
	}
	return true
}

// interrupted returns the terminal events of an interrupted stream,
// numbered from seq on.
func (sh *sharing) interrupted(kind, id string, seq uint64) [][]byte {
	if f := sh.r.o.Interrupted; f != nil {
		return f(kind, id, seq)
	}
	return [][]byte{interruptedFrame(kind, id, seq)}
}

// orphan reads what the log holds of the interrupted call.
func (c *remoteClient) orphan(ctx context.Context) (Orphan, error) { return c.sh.orphan(ctx, c.id) }

func (sh *sharing) orphan(ctx context.Context, id string) (Orphan, error) {
	m, err := sh.s.Meta(ctx, id)
	if err != nil {
		return Orphan{}, err
	}
	notes, err := sh.s.Notes(ctx, id)
	if err != nil {
		return Orphan{}, err
	}
	last, _, err := sh.s.Tail(ctx, id)
	if err != nil {
		return Orphan{}, err
	}
	return Orphan{ID: id, Kind: m.Kind, Owner: m.Owner, Call: m.Call, Notes: notes, Last: last}, nil
}

// interruptedFrame is the error event of an interrupted stream when no
// dialect gave its own.
func interruptedFrame(_, id string, seq uint64) []byte {
	return []byte("id: " + FormatID(id, seq) + "\nevent: error\ndata: {\"error\":{\"message\":\"" + InterruptedMessage + "\",\"type\":\"interrupted\"}}\n\n")
}

// InterruptedMessage says why a stream ended early: its replica died.
const InterruptedMessage = "the stream was interrupted: the server generating it stopped before it finished; send the request again to retry"

func (c *remoteClient) Close() {
	c.sh.mu.Lock()
	if c.closed {
		c.sh.mu.Unlock()
		return
	}
	c.closed = true
	delete(c.sh.followers[c.id], c)
	if len(c.sh.followers[c.id]) == 0 {
		delete(c.sh.followers, c.id)
	}
	c.sh.mu.Unlock()
	c.mu.Lock()
	takenOver := c.err != nil
	c.mu.Unlock()
	if !takenOver {
		c.sh.publish(ctlDetach, c.id, c.nonce, time.Now().UnixNano())
	}
}
