package account

import (
	"context"
	"encoding/json"
	"errors"
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
}

// replay stores the records an earlier owner journaled (the store refused
// them, or an older version journaled every record and was killed).
// Records already stored are skipped: a call's id is its primary key, and
// its charge is in the same transaction as its row. Their reservations
// were released by the lease.
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

// journaled appends c to the journal, reporting whether it is durable
// there.
func (s *Service) journaled(c *Call) bool {
	if s.journal == nil {
		return false
	}
	b, err := json.Marshal(c)
	if err != nil {
		return false
	}
	if err := s.journal.Append(b); err != nil {
		s.log.Error("account: journaling a record", "call", c.ID, "err", err)
		return false
	}
	return true
}
