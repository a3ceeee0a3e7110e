package account

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/runnel/runnel/account/journal"
)

// openJournal takes the journal at path and stores what an earlier owner
// left in it. Without it (another process owns it, or it cannot be opened)
// a record the store refuses is lost, and logged.
func (s *Service) openJournal(path string) {
	wait := 5 * time.Second // an admin command replaying it lets go at once
	if s.cfg.JournalReplayOnly {
		wait = 0
	}
	j, err := journal.Open(path, wait)
	if err != nil {
		if errors.Is(err, journal.ErrLocked) {
			s.log.Debug("account: the record journal is in use by another process", "path", path)
		} else {
			s.log.Warn("account: cannot open the record journal; records the store refuses will be lost", "path", path, "err", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.replay(ctx, j); err != nil {
		s.log.Error("account: replaying the record journal; keeping it for the next start", "path", path, "err", err)
		j.Close()
		return
	}
	if s.cfg.JournalReplayOnly {
		j.Close()
		return
	}
	s.journal = j
}

// replay stores the records an earlier owner journaled (the store refused
// them, or an older version journaled every record and was killed).
// Records already stored are skipped: a call's id is its primary key, and
// its charge is in the same transaction as its row; so are those the
// shared journal had as well. One the store still refuses goes to the
// shared journal, when there is one, so that it no longer waits on this
// disk.
func (s *Service) replay(ctx context.Context, j *journal.Journal) error {
	entries, err := j.Entries()
	if err != nil {
		return err
	}
	for _, e := range entries {
		var c Call
		if err := json.Unmarshal(e, &c); err != nil {
			s.log.Error("account: dropping a malformed record journal entry", "err", err)
			continue
		}
		if err := s.store.RecordCall(ctx, &c, nil); err != nil && !errors.Is(err, ErrExists) {
			if s.sharedJournaled(&c, e) {
				continue
			}
			return err
		}
	}
	if len(entries) > 0 {
		s.log.Info("account: stored the records of the local journal (or moved them to Redis)", "records", len(entries))
	}
	return j.Clear()
}

// keepRefused keeps a record the store refused, for a later store: in
// the shared journal (Redis), which any process drains, so that it
// survives this process and its disk; and in the local journal, a second
// copy for when Redis loses it (no persistence) and this disk does not.
// Both copies are stored once: the store is idempotent by call id.
func (s *Service) keepRefused(c *Call, storeErr error) {
	b, err := json.Marshal(c)
	if err != nil { // a Call always encodes; nothing to keep if not
		s.log.Error("account: recording call; the record is lost", "call", c.ID, "team", c.TeamID, "err", storeErr, "encode_err", err)
		return
	}
	shared, local := s.sharedJournaled(c, b), s.journaled(c, b)
	if local && !shared {
		s.holdLocally(c)
	}
	attrs := []any{"call", c.ID, "team", c.TeamID, "err", storeErr}
	switch {
	case shared:
		s.log.Error("account: recording call; the store refused it: kept in Redis for any replica to store", append(attrs, "local_copy", local)...)
	case local && s.cfg.Shared != nil:
		s.log.Error("account: recording call; the store and Redis both refused it: kept in the local journal only, for the next start on this data directory (lost with this disk)", attrs...)
	case local:
		s.log.Error("account: recording call; kept in the journal for the next start", attrs...)
	default:
		s.log.Error("account: recording call; the record is lost", attrs...)
	}
}

// SharedJournal keeps the records the store refused where every process
// reaches them (account/redisjournal: Redis), so that a record outlives
// the process, and the disk, of the call it records. Every process drains
// it into the store.
//
// A record holds what it will settle (PendingHolds: its reservation, the
// job it completes) until it is stored: Release, which whoever would
// release a reservation or expire a job asks first, and Put are atomic
// with each other, so that a hold is either kept for a record or let go
// before the record came, and then that record's Put says so.
type SharedJournal interface {
	// Put keeps rec under key until a drain stores it; a key put again
	// is the same record. ErrHoldGone: kept, but one of its holds was
	// let go before.
	Put(ctx context.Context, key string, rec []byte) error
	// Release lets hold go (true) unless a record kept names it, or
	// its owner (a reservation's process; "" for a job) is alive.
	Release(ctx context.Context, owner, hold string) (bool, error)
	// Heartbeat says that owner runs for ttl more (renewed with its
	// lease, which it may fail to renew in the store while the store is
	// unreachable to it alone), or with ttl <= 0 that it stopped. While it
	// runs its reservations are kept: a record of its calls may come.
	Heartbeat(ctx context.Context, owner string, ttl time.Duration) error
	// Keys lists the keys kept; Len counts them.
	Keys(ctx context.Context) ([]string, error)
	Len(ctx context.Context) (int64, error)
	// Drain, unless another process is draining, hands the records kept
	// to store a batch at a time and forgets those it says are stored
	// (only after: a record is never forgotten unstored), stopping at
	// store's error. It returns how many it forgot.
	Drain(ctx context.Context, store func(context.Context, []PendingRecord) (stored []string, err error)) (int, error)
}

// ErrHoldGone is SharedJournal.Put's report that the record is kept but
// its reservation was released, or its job expired, before it came: it
// will charge at most what its team can then pay.
var ErrHoldGone = errors.New("account: the record's reservation or job was let go before it was kept")

// PendingRecord is a record kept in a SharedJournal: its key and the
// Call's JSON, as the local journal has it.
type PendingRecord struct {
	Key    string
	Record []byte
}

// drainEvery is how often each process drains the shared journal by
// default (Config.DrainEvery).
const drainEvery = 2 * time.Second

// pendingKey names c in the shared journal: its call id, the job it
// settles if any, and its reservation (or credit block), which stay held
// until the record is stored (see PendingHolds). Two records of one call id (a continued
// stream) are two entries, each releasing its own reservation.
func pendingKey(c *Call) string {
	res := c.Reservation
	if c.Block != "" {
		res = c.Block // a call holds a reservation or a block's credits
	}
	if c.Settle != nil && c.Settle.JobID != "" {
		return c.ID + "|job:" + c.Settle.JobID + "|" + res
	}
	return c.ID + "|" + res
}

// PendingHolds are what the record under pendingKey key holds until it is
// stored: "res:ID" for its reservation, "job:ID" for the job it settles.
func PendingHolds(key string) []string {
	var h []string
	i := strings.LastIndexByte(key, '|')
	if i < 0 {
		return nil
	}
	if i+1 < len(key) {
		h = append(h, "res:"+key[i+1:])
	}
	if j := strings.LastIndexByte(key[:i], '|'); j >= 0 && strings.HasPrefix(key[j+1:i], "job:") {
		h = append(h, key[j+1:i])
	}
	return h
}

// sharedJournaled puts c (encoded as b) in the shared journal, reporting
// whether it is there.
func (s *Service) sharedJournaled(c *Call, b []byte) bool {
	if s.cfg.Shared == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.cfg.Shared.Put(ctx, pendingKey(c), b)
	if errors.Is(err, ErrHoldGone) {
		// Its owner's lease ran out, or its job expired, before the
		// record came (this process lost the store for that long): it
		// charges what its team can pay when it is stored.
		s.log.Error("account: a refused record kept in Redis after its reservation or job was let go; it charges at most what the team can then pay", "call", c.ID, "team", c.TeamID)
		return true
	}
	if err != nil {
		s.log.Error("account: keeping a refused record in Redis", "call", c.ID, "err", err)
		return false
	}
	return true
}

// PendingRecords counts the records that wait in the shared journal for
// the store to take them; ok is false without a shared journal.
func (s *Service) PendingRecords(ctx context.Context) (n int64, ok bool, err error) {
	if s.cfg.Shared == nil {
		return 0, false, nil
	}
	n, err = s.cfg.Shared.Len(ctx)
	return n, true, err
}

// drainLoop drains the shared journal every DrainEvery until the service
// closes. It has a goroutine of its own: a long drain must not hold back
// the lease renewals of sweepLoop.
func (s *Service) drainLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	t := time.NewTicker(s.cfg.DrainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.drainShared(ctx)
		}
	}
}

// drainShared stores the records the shared journal holds, whichever
// process kept them, unless another process is at it. A record already
// stored (by a drainer that died before forgetting it, or from a local
// journal's copy) stores and charges nothing and is forgotten.
func (s *Service) drainShared(ctx context.Context) (int, error) {
	n, err := s.cfg.Shared.Drain(ctx, s.storePending)
	if n > 0 {
		s.log.Info("account: stored records that the store had refused, from Redis", "records", n)
	}
	if err != nil {
		s.log.Warn("account: storing the records kept in Redis; retrying later", "stored", n, "err", err)
	}
	return n, err
}

// storePending stores recs, maxBatch to a transaction, and returns the
// keys of those stored (or stored before, or malformed). A batch the
// store refuses is stored one record at a time, so that one bad record
// holds back no other; if none goes in, the store is taken for down.
func (s *Service) storePending(ctx context.Context, recs []PendingRecord) ([]string, error) {
	var done []string
	keys := make([]string, 0, len(recs))
	calls := make([]*Call, 0, len(recs))
	for _, r := range recs {
		var c Call
		if err := json.Unmarshal(r.Record, &c); err != nil || c.ID == "" {
			s.log.Error("account: dropping a malformed record kept in Redis", "key", r.Key, "err", err)
			done = append(done, r.Key)
			continue
		}
		keys, calls = append(keys, r.Key), append(calls, &c)
	}
	for len(calls) > 0 {
		n := min(len(calls), maxBatch)
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := s.store.RecordCalls(bctx, calls[:n])
		if err == nil {
			done = append(done, keys[:n]...)
		} else {
			stored, failed, first := 0, 0, ""
			var last error
			for i, c := range calls[:n] {
				if err := s.store.RecordCall(bctx, c, nil); err == nil || errors.Is(err, ErrExists) {
					done, stored = append(done, keys[i]), stored+1
				} else {
					failed++
					if last == nil {
						first, last = c.ID, err
					}
				}
			}
			if stored == 0 {
				cancel()
				return done, last // the store is down: drainShared says so once
			}
			if failed > 0 {
				s.log.Error("account: the store refuses some records kept in Redis; they stay there", "records", failed, "first", first, "err", last)
			}
		}
		cancel()
		keys, calls = keys[n:], calls[n:]
	}
	return done, nil
}

// keptHolds decides which reservations ReleaseExpired and DropLease keep,
// and which stale jobs Sweep leaves open: those a pending record holds,
// and the reservations of a process still alive (SharedJournal.Heartbeat)
// whose lease ran out because it could not reach the store,
// released (with their charge) when the record is stored. Let go
// earlier, their credits could go to other calls, and the record, stored
// later, charge less than was served. Each is asked of the shared journal
// as it is about to go (one round trip, atomic with records' Puts: see
// SharedJournal); when Redis does not answer, everything is kept. Records
// in this process's local journal only (Redis refused them too) keep
// theirs while it runs (localHeld).
type keptHolds struct {
	ctx  context.Context
	s    *Service
	err  error // from the shared journal: all kept
	kept int
}

func (s *Service) keptHolds(ctx context.Context) *keptHolds {
	return &keptHolds{ctx: ctx, s: s}
}

// keep reports whether owner's reservation id must stay held.
func (k *keptHolds) keep(owner, id string) bool { return k.hold(owner, "res:"+id) }

// keepJob reports whether job id must stay open.
func (k *keptHolds) keepJob(id string) bool { return k.hold("", "job:"+id) }

func (k *keptHolds) hold(owner, h string) bool {
	if k.s.localHolds(h) || k.err != nil {
		k.kept++
		return true
	}
	if k.s.cfg.Shared == nil {
		return false
	}
	gone, err := k.s.cfg.Shared.Release(k.ctx, owner, h)
	if err != nil {
		k.err = err
	}
	if err != nil || !gone {
		k.kept++
		return true
	}
	return false
}

// log says what was kept, and why.
func (k *keptHolds) log(l *slog.Logger, what string) {
	switch {
	case k.err != nil:
		l.Warn("account: Redis does not say which records wait there; "+what+" stay held until it does", "kept", k.kept, "err", k.err)
	case k.kept > 0:
		l.Info("account: keeping "+what+" that records waiting to be stored, or a replica still running, hold", "kept", k.kept)
	}
}

// holdLocally keeps what c holds (its reservation, its job) while c is
// in the local journal only: no other process knows of it. retryLocal
// stores it as soon as the store takes it, with its exact charge.
func (s *Service) holdLocally(c *Call) {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.localHeld == nil {
		s.localHeld = map[string]bool{}
	}
	for _, h := range PendingHolds(pendingKey(c)) {
		s.localHeld[h] = true
	}
}

func (s *Service) localHolds(h string) bool {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	return s.localHeld[h]
}

// retryLocal stores the records of the local journal that this process
// kept there alone (or moves them to Redis), while it still holds their
// reservations: once the store answers again they charge exactly what
// was served. It runs after each lease renewal, and at Close, for at most
// a third of the lease, so that the next renewal comes in time (a record
// refused meanwhile waits for it to append to the journal).
func (s *Service) retryLocal() {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if len(s.localHeld) == 0 || s.journal == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Lease/3)
	defer cancel()
	if err := s.replay(ctx, s.journal); err != nil {
		s.log.Warn("account: storing the records kept in the local journal only; retrying with the next lease renewal", "err", err)
		return
	}
	clear(s.localHeld)
}

// journaled appends c (encoded as b) to the local journal, reporting
// whether it is durable there.
func (s *Service) journaled(c *Call, b []byte) bool {
	if s.journal == nil {
		return false
	}
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if err := s.journal.Append(b); err != nil {
		s.log.Error("account: journaling a record", "call", c.ID, "err", err)
		return false
	}
	return true
}
