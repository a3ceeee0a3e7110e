package account

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/runnel/runnel/account/journal"
)

// pendingWrite is a journaled record on its way to the store.
type pendingWrite struct {
	a *admission
	c Call
}

// writers is how many goroutines write journaled records to the store:
// SQLite has one writer connection anyway; PostgreSQL commits in parallel.
const writers = 4

// openJournal takes the journal at path, stores what an earlier owner left
// in it and starts the writers. Without it (another process owns it, or it
// cannot be opened) records are written before the response ends.
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
			s.log.Warn("account: cannot open the record journal; recording before each response ends", "path", path, "err", err)
		}
		return
	}
	if err := s.replay(j); err != nil {
		s.log.Error("account: replaying the record journal; keeping it for the next start", "path", path, "err", err)
		j.Close()
		return
	}
	if s.cfg.JournalReplayOnly {
		j.Close()
		return
	}
	s.journal = j
	s.writes = make(chan pendingWrite, 1024)
	for range writers {
		s.writers.Add(1)
		go func() {
			defer s.writers.Done()
			for w := range s.writes {
				s.commitJournaled(w.a, w.c)
			}
		}()
	}
}

// replay stores the records an earlier owner journaled but did not store
// (it was killed, or the store failed). Records already stored are skipped:
// a call's id is its primary key, and its charge is in the same
// transaction as its row.
func (s *Service) replay(j *journal.Journal) error {
	entries, err := j.Entries()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, e := range entries {
		var c Call
		if err := json.Unmarshal(e, &c); err != nil {
			s.log.Error("account: dropping a malformed record journal entry", "err", err)
			continue
		}
		if err := s.store.RecordCall(ctx, &c, nil); err != nil && !errors.Is(err, ErrExists) {
			return err
		}
	}
	if len(entries) > 0 {
		s.log.Info("account: stored the records journaled before the last stop", "records", len(entries))
	}
	return j.Clear()
}

// journalAndQueue makes c durable in the journal and hands it to the
// writers, reporting whether it did; if not (no journal, the service is
// closing, or the append failed) the caller stores c itself.
func (s *Service) journalAndQueue(a *admission, c Call) bool {
	if s.journal == nil {
		return false
	}
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	if s.wclosed || !s.journaled(&c) {
		return false
	}
	select {
	case s.writes <- pendingWrite{a, c}:
	default: // the writers are behind: store it here
		s.commitJournaled(a, c)
	}
	return true
}

// journaled appends c to the journal, reporting whether it is durable
// there.
func (s *Service) journaled(c *Call) bool {
	b, err := json.Marshal(c)
	if err == nil {
		err = s.journal.Append(b)
	}
	if err != nil {
		s.log.Error("account: journaling a record; storing it now instead", "call", c.ID, "err", err)
		return false
	}
	s.written.add()
	return true
}

// commitJournaled stores a journaled record; once it is in the store the
// journal may forget it. A record the store refused stays journaled, for
// the next start to try again.
func (s *Service) commitJournaled(a *admission, c Call) {
	if s.storeCall(a, c) == nil {
		if err := s.journal.Committed(); err != nil {
			s.log.Error("account: emptying the record journal", "err", err)
		}
	}
	s.written.done()
}

// writeCount lets readers wait for the records journaled before they
// asked, so that a call shows in usage as soon as its response ended.
type writeCount struct {
	mu             sync.Mutex
	cond           sync.Cond
	queued, stored uint64
}

func (w *writeCount) add() {
	w.mu.Lock()
	w.queued++
	w.mu.Unlock()
}

func (w *writeCount) done() {
	w.mu.Lock()
	w.stored++
	w.cond.Broadcast()
	w.mu.Unlock()
}

// wait returns once every record journaled before the call is stored (or
// failed to be), or when ctx ends.
func (w *writeCount) wait(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.queued
	if w.stored >= target {
		return
	}
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	for w.stored < target && ctx.Err() == nil {
		w.cond.Wait()
	}
}
