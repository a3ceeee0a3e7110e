package account

import (
	"context"
	"time"

	"github.com/runnel/runnel/gateway"
)

// QueuedRecords is how many records wait for a writer (tests).
func (s *Service) QueuedRecords() int { return len(s.batch.in) }

// DrainShared and RenewLease run a round of the sweeper's drain of the
// shared journal and lease renewal now (tests).
func (s *Service) DrainShared(ctx context.Context) (int, error) { return s.drainShared(ctx) }
func (s *Service) RenewLease(ctx context.Context)               { s.renewLease(ctx) }

// DrainFrom is DrainShared from j, for a service without a shared journal
// of its own, whose sweeper then drains nothing (benchmarks).
func (s *Service) DrainFrom(ctx context.Context, j SharedJournal) (int, error) {
	return j.Drain(ctx, s.storePending)
}

// ReservationOf is the reservation an admission holds (tests).
func ReservationOf(a gateway.Admission) string { return a.(*admission).reservation }

// PendingKey is the key of c's record in the shared journal (tests).
func PendingKey(c *Call) string { return pendingKey(c) }

// BlockOf is the credit block an admission was admitted from (tests).
func BlockOf(a gateway.Admission) string { return a.(*admission).block }

// Owner names this process's reservations and blocks (tests).
func (s *Service) Owner() string { return s.owner }

// CloseBlocks closes this process's open credit blocks and waits until
// their unused credits are given back (tests).
func (s *Service) CloseBlocks() { s.blocks.close() }

// BlockLook is how often a process looks at its open credit blocks
// (tests).
const BlockLook = blockLook

// SetBlockMaxAge sets how long a credit block may serve calls until the
// test ends (tests).
func SetBlockMaxAge(t interface{ Cleanup(func()) }, d time.Duration) {
	was := blockMaxAge
	blockMaxAge = d
	t.Cleanup(func() { blockMaxAge = was })
}

// NewBlockID is newBlockID (tests).
var NewBlockID = newBlockID

// OpenBlock is the id of team's open credit block in this process, or ""
// (tests).
func (s *Service) OpenBlock(team string) string {
	s.blocks.mu.Lock()
	defer s.blocks.mu.Unlock()
	if tb := s.blocks.teams[team]; tb != nil && tb.cur != nil {
		return tb.cur.id
	}
	return ""
}

// SetStoreWait sets storeWait until the test ends (tests).
func SetStoreWait(t interface{ Cleanup(func()) }, d time.Duration) {
	was := storeWait
	storeWait = d
	t.Cleanup(func() { storeWait = was })
}

// SnapshotTTL is how long a team snapshot may serve where a change to it
// may come unannounced (tests).
const SnapshotTTL = snapshotTTL

// SetAnnouncePauses sets the pauses between a change's announcements
// (tests); it returns the old ones.
func SetAnnouncePauses(p []time.Duration) []time.Duration {
	old := announcePauses
	announcePauses = p
	return old
}
