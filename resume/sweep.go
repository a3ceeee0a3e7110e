package resume

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"time"
)

// The sweeper settles the streams of a replica that died which no client
// came back to: without it nobody would notice their end, and their calls
// would go unrecorded (and unpaid). Every replica sweeps; the claim that
// readers use too (Shared.Claim) lets one act on each stream.

// sweepEvery is how many heartbeats apart a registry sweeps.
const sweepEvery = 2

func (sh *sharing) sweeper(ctx context.Context) {
	t := time.NewTicker(sweepEvery * sh.r.o.Heartbeat)
	defer t.Stop()
	seen := map[string]bool{} // replicas found dead by the last sweep
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seen = sh.sweep(ctx, seen)
	}
}

// sweep settles the streams of the replicas found dead by this sweep and
// the last, and returns those found dead by this one. A replica's death
// is acted on one sweep late so that a client reconnecting at once (whose
// replica may continue the stream, Options.Continue) comes first.
func (sh *sharing) sweep(ctx context.Context, seen map[string]bool) map[string]bool {
	reps, err := sh.s.Replicas(ctx)
	if err != nil {
		if ctx.Err() == nil {
			slog.Warn("resume: sweeping the streams of dead replicas", "err", err)
		}
		return seen
	}
	dead := map[string]bool{}
	for _, rep := range reps {
		if rep == sh.r.o.Replica || ctx.Err() != nil {
			continue
		}
		if alive, err := sh.s.Alive(ctx, rep); err != nil || alive {
			continue
		}
		dead[rep] = true
		if !seen[rep] {
			continue
		}
		ids, err := sh.s.Streams(ctx, rep)
		if err != nil {
			continue
		}
		for _, id := range ids {
			sh.settle(ctx, id, rep)
		}
		if err := sh.s.Forget(ctx, rep, ""); err != nil && ctx.Err() == nil {
			slog.Warn("resume: forgetting a dead replica", "replica", rep, "err", err)
		}
	}
	return dead
}

// settle ends stream id of the dead replica with the interruption and
// records its call, if it is still running and this replica claims it.
func (sh *sharing) settle(ctx context.Context, id, dead string) {
	m, err := sh.s.Meta(ctx, id)
	if errors.Is(err, ErrNotFound) {
		sh.s.Forget(ctx, dead, id) // its log expired
		return
	}
	if err != nil {
		return
	}
	last, end, err := sh.s.Tail(ctx, id)
	switch {
	case err != nil:
		return
	case m.Replica != dead || end != "":
		sh.s.Forget(ctx, dead, id) // claimed or ended: not this sweep's
		return
	case sh.following(id):
		// A client reads it here: its reader settles it at its next
		// silence, continued if Options.Continue can. Acting one sweep
		// late did not keep a sweep from interrupting it first when
		// that reader was slow (a loaded machine).
		return
	}
	ok, err := sh.s.Claim(ctx, id, dead, sh.r.o.Replica)
	if err != nil || !ok {
		return // a reader took it, or the next sweep retries
	}
	// What the log holds now: a replica taken for dead that was only
	// slow may have written since.
	if l, _, err := sh.s.Tail(ctx, id); err == nil {
		last = l
	}
	// A sweep that wrote the interruption events but failed to end the
	// log handed it back: end it after them, not after a second copy.
	last -= sh.interruptedAlready(ctx, id, m.Kind, last)
	// No client reads it: it ends here, not continued.
	if !sh.interrupt(ctx, id, m.Kind, dead, last) {
		// Handed back to the dead replica, for the next sweep to retry:
		// claimed by this live one, nobody would sweep it.
		bg, cancel := sh.ctx()
		defer cancel()
		if _, err := sh.s.Claim(bg, id, sh.r.o.Replica, dead); err != nil {
			slog.Warn("resume: a dead replica's stream could not be ended", "stream", id, "err", err)
		}
	}
}

// following reports whether a client on this replica reads stream id and
// has not been taken over or cancelled.
func (sh *sharing) following(id string) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for c := range sh.followers[id] {
		select {
		case <-c.stop:
		default:
			return true
		}
	}
	return false
}

// interruptedAlready returns how many events the log's last are, if they
// are the interruption events (written by an earlier attempt), else 0.
func (sh *sharing) interruptedAlready(ctx context.Context, id, kind string, last uint64) uint64 {
	n := uint64(len(sh.interrupted(kind, id, 1)))
	if n == 0 || last < n {
		return 0
	}
	want := sh.interrupted(kind, id, last-n+1)
	got, _, err := sh.s.Read(ctx, id, last-n, sh.r.o.Heartbeat, nil)
	if err != nil || len(got) < len(want) {
		return 0
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			return 0
		}
	}
	return n
}
