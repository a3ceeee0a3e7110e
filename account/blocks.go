package account

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Credit blocks (Config.CreditBlocks): instead of one store write per
// call before its first token, a process takes a block of a team's free
// credits in one conditional update (Store.TakeBlock, the same check as a
// reservation) and admits calls from it in memory. The block is a
// reservation row under the process's lease, so the lease rules hold for
// it unchanged: released uncharged when the process dies and its lease
// ends, kept while a record waiting in Redis (or in the local journal)
// names it. A record of a call charged what it held is stored inside the
// block, writing neither the team row nor the block row; the store
// charges the team for such calls when the block is folded (at its
// close if none of its calls is running, else after the last of them is
// recorded; at its release),
// and team reads count them as charged at once (store/sqldb/blocks.go).
// Other records shrink the block by what their call held; the process
// gives back what it did not hand out when the block closes. So the credits held are always those
// of calls in flight plus the unused part of open blocks, and records
// charge exactly as with per-call reservations. A give-back the store
// fails is tried again until it is stored (closeInStore), while the
// process lives: the store gives a block's unused credits back once, at
// its close, and the credits of calls refused after it (unadmit) up to
// the total their process gave back, so a give-back stored and tried
// again (an error after the commit) gives nothing twice. A take whose
// error may have come after its block was stored gives that block back
// whole, the same way.
//
// Store writes: a block lives until it is used up, a change is announced
// or blockMaxAge, whichever comes first, unless somebody waits for its
// team's credits (below). A block that handed out credits since its last
// look is followed, at its age, by the next in the transaction that
// closes it
// (Store.RollBlock), as a call that finds it expired does; the fold of a
// closed block after its last call goes with the open block's close, or
// on its own at the open block's next look (at most blockLook away). So
// a team's steady traffic costs one transaction in blockMaxAge here at
// low rates, and one a block used up at high ones.
//
// Sizing: about blockRoom times blockMaxAge of this process's calls for
// the team (measured on its previous block), at most blockMaxCalls calls
// (so that team reads' sums of what open blocks owe stay short) unless
// blockRoom times blockLook of its calls is more, never more than
// 1/blockShare of the team's free credits, and none below blockFloor
// calls' credits free: then every process reserves per call, so the
// last credits are never parked.
//
// No false refusals: a per-call reservation or a job refused for credits
// while another process holds an open block of the team marks the team
// (Store.Want) and announces it as a change (Changes); this process's
// own open block of the team closes at once. Every process holding an
// open block looks at it every blockLook: when the change versions moved
// since its take (or are unknown), or at its age, it reads the team's
// mark (Store.Wanted: a point read, no transaction) and, if the mark
// moved since the read made before the block's take (or cannot be read),
// closes the block at once, giving back what it did not hand out, and
// reserves per call for the team for perCallFor. (While the versions
// stand still the mark cannot have moved: see look.) The refused call waits
// for those blocks, and for this process's own closed blocks still giving
// back, and retries, within refusedWait (blockLook for the look, and as
// long for the give-back's write): by then every block open at the
// refusal has closed, and no process takes a new one unless the team
// still has blockFloor calls' credits free, of which it takes a quarter
// at most. A mark made before a block's take left at least three
// quarters of blockFloor calls' credits free. A refusal after that wait
// is true: the credits are held by calls in flight (or by a dead
// process's block, until its lease ends). Processes of one database must
// all mark, announce and look: an older one's refusals would not close a
// newer one's block for blockMaxAge.
//
// Teams with a budget reserve per call (the budget is a float worst case
// per call, not leased). Job calls hold nothing, as before. A block is
// admitted from only while no process announced a change to keys or
// teams since it was taken (Changes), so that a new budget or a removal
// of credits applies at once.

const (
	// blockLook is how often a process looks at each open block: at the
	// change versions and the block's age, and the team's mark when
	// either says so.
	blockLook  = time.Second
	blockShare = 4  // a block takes at most a quarter of the free credits
	blockFloor = 64 // calls' credits free below which every process reserves per call
	blockMin   = 4  // calls: the first block's size, and the smallest worth taking
	// blockRoom sizes a block at twice the calls of its age at the last
	// block's rate, so that it closes by age, not used up early by a
	// rate that rose: each block costs a take, a give-back and a fold.
	blockRoom = 2
	// blockMaxCalls bounds a block's size in calls, unless blockRoom
	// times blockLook of the team's calls here is more: every team read
	// sums the charges of the calls recorded inside open blocks.
	blockMaxCalls = 256
	// refusedWait bounds how long a call refused for credits waits for
	// other processes' open blocks to close.
	// A second for the blocks' look at the mark, and as long again for
	// their processes to give back what they did not hand out on a
	// loaded machine.
	refusedWait = 2 * blockLook
	// perCallFor is how long a process reserves per call for a team after
	// the team ran short (a take found too few credits, a refusal, or
	// another process's refusal seen at a look).
	perCallFor = 2 * blockLook
	// A give-back that failed is tried again after giveBackPause,
	// doubling up to giveBackPauseMax.
	giveBackPause    = 50 * time.Millisecond
	giveBackPauseMax = 5 * time.Second
)

// storeWait bounds a store write of a block's, and all of a call's
// admission writes together: past it the call is refused as the store
// unavailable (a var for tests).
var storeWait = 10 * time.Second

// blockMaxAge is how long a block may serve calls while nobody waits
// for its team's credits and nothing changes: ten looks, a roll (a
// transaction of some 0.4M instructions on SQLite) each ten seconds
// where one a second was most of auth's cost at low request rates
// (docs/benchmarks.md, issue 13, authrate session). A var for tests.
var blockMaxAge = 10 * time.Second

type blocks struct {
	s  *Service
	mu sync.Mutex
	// teams holds a state per team that has used blocks here.
	teams map[string]*teamBlocks
	// returning counts the closed blocks whose unused credits are being
	// given back; Close waits for them.
	returning sync.WaitGroup
	closed    bool
	// stop is closed with closed: a give-back that failed is not tried
	// again after it, the release of this process's lease takes over.
	stop chan struct{}
}

type teamBlocks struct {
	cur     *block
	taking  chan struct{} // closed when the take in flight ends
	perCall time.Time     // reserve per call until then
	// returning counts this process's closed blocks of the team whose
	// unused credits are on their way back to the store, or whose fold
	// is (folds).
	returning int
	rate      float64 // credits per second handed out from the last block
	// folds are closed blocks whose calls are all recorded, folded with
	// the open block's close or its next look (at most blockLook away)
	// rather than each in a transaction of its own.
	folds []string
}

type block struct {
	id            string
	size, used    int64 // credits held, credits handed to calls
	need          int64 // credits a call, when taken
	taken         time.Time
	local, remote uint64 // Changes versions when taken
	// wanted is the team's mark (Store.Wanted) as read before the take:
	// a look that finds it moved closes the block.
	wanted int64
	// looked is used as of the last look: a block that handed out
	// nothing since is not followed by the next at its age.
	looked int64
	timer  *time.Timer
	// calls counts the calls admitted from it whose records are not
	// stored yet; once it is closed and they are, the block is folded
	// once (recorded), not by each of their records.
	calls  int
	closed bool
	// heldBack is the credits of calls admitted from it and refused
	// after its close, given back in all (BlockClose.Held).
	heldBack int64
}

func newBlocks(s *Service) *blocks {
	return &blocks{s: s, teams: map[string]*teamBlocks{}, stop: make(chan struct{})}
}

// admit hands need credits of team to a call from this process's open
// block, taking a new one if the team has enough free credits; ok is
// false when the call must reserve on its own (a per-call reservation).
// seen are the change versions read when the call's key was checked,
// moments ago. This process's own changes are read now (an atomic load);
// other processes' (SQLite: a stat of the marker file) are taken from
// seen while they are the open block's: no other process announced a
// change between the block's take and the call's key check, and the
// call is admitted as if it had come before any later one. Otherwise
// both are read now, for anything but handing out from the open block.
// The call's store writes end by until (its waits for a take too).
func (b *blocks) admit(ctx context.Context, team string, need int64, seen versions, until time.Time) (c *block, ok bool) {
	for {
		v := seen
		if v.ok {
			v.local = b.s.keys.local.Load()
		} else {
			v = b.s.keys.versions()
		}
		local, remote, vok := v.local, v.remote, v.ok
		now := time.Now()
		b.mu.Lock()
		tb := b.teams[team]
		if tb == nil {
			tb = &teamBlocks{}
			b.teams[team] = tb
		}
		if c := tb.cur; c != nil {
			if vok && c.local == local && c.remote == remote && now.Sub(c.taken) < blockMaxAge && c.used+need <= c.size {
				c.used += need
				c.calls++
				if c.used+need > c.size {
					// Used up: closed now, so that no other process
					// waits for credits it no longer has.
					b.closeLocked(tb, c, now)
				}
				b.mu.Unlock()
				return c, true
			}
		}
		if seen.ok {
			// Not the open block's versions: read them now.
			seen = versions{}
			b.mu.Unlock()
			continue
		}
		// The open block cannot serve: closed, in the transaction that
		// takes the next if one is taken.
		var last *BlockClose
		if c := tb.cur; c != nil {
			cl := b.shutLocked(tb, c, now)
			last = &cl
		}
		if !vok || b.closed || now.Before(tb.perCall) {
			if last != nil {
				b.giveBackLocked(tb, *last)
			}
			b.mu.Unlock()
			return nil, false
		}
		if ch := tb.taking; ch != nil {
			// Another call is taking the next block (so none was open):
			// wait for it rather than every call writing its own
			// reservation.
			if last != nil {
				b.giveBackLocked(tb, *last)
			}
			b.mu.Unlock()
			if !waitTake(ctx, ch, until) {
				return nil, false
			}
			continue
		}
		ok := b.takeLocked(ctx, team, tb, need, now, v, last, nil, until)
		b.mu.Unlock()
		if !ok {
			return nil, false
		}
	}
}

// takeLocked takes team's next block for calls of need credits, closing
// last (the block before it, if any) in the same transaction
// (Store.RollBlock), and reports whether it is open. wanted is the team's
// mark read after versions v (a look's), or nil: then it is read before
// the take (a mark after that read closes the block at the first look
// that hears of its announcement). b.mu is held, and
// let go during the store's write; calls meanwhile wait for it
// (tb.taking). If the take fails, last is closed on its own, and so is
// the new block if the failure came after it was stored (a timeout on the
// way back); the team's calls reserve per call for a while.
func (b *blocks) takeLocked(ctx context.Context, team string, tb *teamBlocks, need int64, now time.Time, v versions, last *BlockClose, wanted *int64, until time.Time) bool {
	ch := make(chan struct{})
	tb.taking = ch
	n := 0
	if last != nil {
		last.Folds, tb.folds = tb.folds, nil
		n = 1 + len(last.Folds) // the folds were counted when put off
		tb.returning++
		b.returning.Add(1)
	}
	r := Reservation{ID: newBlockID(time.Now()), TeamID: team, Owner: b.s.owner, Credits: blockSize(tb.rate, need)}
	b.mu.Unlock()

	tctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), until)
	var got, w int64
	var err error
	if wanted != nil {
		w = *wanted
	} else {
		w, err = b.s.store.Wanted(tctx, team)
	}
	unread := err != nil // no block was stored
	if err == nil && last == nil {
		got, err = b.s.store.TakeBlock(tctx, r, blockShare, blockFloor*need)
	} else if err == nil {
		got, err = b.s.store.RollBlock(tctx, *last, r, blockShare, blockFloor*need)
	}
	cancel()

	b.mu.Lock()
	tb.taking = nil
	close(ch)
	defer b.returning.Add(-n) // after any give-back below is counted
	switch {
	case err == nil && got >= blockMin*need && !b.closed:
		b.s.failing.ok()
		tb.returning -= n
		b.openLocked(team, tb, r.ID, got, need, now, v, w)
		return true
	case err == nil && got > 0:
		// Too small to be worth it (or closing): give it back.
		b.giveBackLocked(tb, BlockClose{ID: r.ID, Credits: got, Fold: true})
	case unread:
		b.s.failing.failed("account: reading a team's mark before taking a block; reserving per call", err, "team", team)
	case err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrExists):
		b.s.failing.failed("account: taking a block of credits; reserving per call", err, "team", team)
		// It may have been stored before it failed: given back whole if
		// so (no call was admitted from it), else this finds no block.
		b.giveBackLocked(tb, BlockClose{ID: r.ID, Credits: math.MaxInt64, Fold: true})
	}
	if err != nil && last != nil {
		// The last block closes on its own (closing it twice gives
		// nothing back twice: RollBlock may have been stored; or was
		// not tried, the mark unread).
		b.giveBackLocked(tb, *last)
	}
	tb.returning -= n
	tb.perCall = now.Add(perCallFor)
	return false
}

// blockSize is the credits a block is taken for, for calls of need
// credits at rate credits a second (the last block's): blockRoom times
// blockMaxAge of them, at least blockMin calls, at most blockMaxCalls
// unless blockRoom times blockLook of them is more.
func blockSize(rate float64, need int64) int64 {
	n := int64(math.Ceil(blockRoom * rate * blockMaxAge.Seconds()))
	limit := max(blockMaxCalls*need, int64(math.Ceil(blockRoom*rate*blockLook.Seconds())))
	return max(blockMin*need, min(n, limit))
}

// newBlockID is a block id that sorts after those taken before it (by
// any process, up to their clocks' skew): "blk_", the time in 16 hex
// digits, 8 random base32 characters. Every call recorded inside a block
// adds an entry to the calls' index by block (calls_link); with random
// ids each block's entries went into the middle of the blocks' part of
// that index, splitting and rewriting its pages there, where ordered ids
// append at that part's end.
func newBlockID(now time.Time) string {
	var b [5]byte
	rand.Read(b[:])
	return "blk_" + fmt.Sprintf("%016x", uint64(now.UnixNano())) + idEncoding.EncodeToString(b[:])
}

// unadmit gives back the credits of a call admitted from block c and
// then refused (a rate limit): to the block if it is still open, else to
// the store.
func (b *blocks) unadmit(team string, c *block, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tb := b.teams[team]; tb != nil && tb.cur == c {
		c.used -= n
		c.calls--
		return
	}
	// Its close may be on its way still: given back as the call's, the
	// block's state left as it is. The store gives back what it lacks of
	// the total, so a try after a commit gives nothing twice.
	c.heldBack += n
	b.giveBackLocked(b.teams[team], BlockClose{ID: c.id, Credits: c.heldBack, Held: true})
	b.doneLocked(team, c)
}

// recorded notes that the record of a call admitted from c is stored (or
// kept for a later store, which folds c itself).
func (b *blocks) recorded(team string, c *block) {
	b.mu.Lock()
	b.doneLocked(team, c)
	b.mu.Unlock()
}

// doneLocked counts a call of c done; the last of a closed block folds
// it: what the records stored inside it since its close (FoldLater) were
// charged is taken off the team, as their records would have each done.
// (A fold alone, not a close: the block's close may still be on its way,
// tried again, and gives back only while the block is open. A fold the
// store fails is tried again as a give-back is; team reads count the
// charges meanwhile.)
//
// The fold counts as the team's giving back (teamBlocks.returning): until
// it is stored the team's credits still show the block's charges, so a
// call this process refuses for credits meanwhile waits for it
// (waitRefused) rather than being refused while they are in flight.
func (b *blocks) doneLocked(team string, c *block) {
	if c.calls--; c.calls == 0 && c.closed {
		tb := b.teams[team]
		if tb != nil && tb.cur != nil && !b.closed {
			// Folded with the open block's close or its next look,
			// within blockLook.
			tb.folds = append(tb.folds, c.id)
			tb.returning++
			b.returning.Add(1)
			return
		}
		b.giveBackLocked(tb, BlockClose{Folds: []string{c.id}})
	}
}

// openLocked makes block id of size credits, taken at taken under
// versions v and the team's mark wanted, team's open block.
func (b *blocks) openLocked(team string, tb *teamBlocks, id string, size, need int64, taken time.Time, v versions, wanted int64) {
	c := &block{id: id, size: size, need: need, taken: taken, local: v.local, remote: v.remote, wanted: wanted}
	c.timer = time.AfterFunc(blockLook, func() { b.look(team, c) })
	tb.cur = c
}

// look runs every blockLook while c is team's open block. If the team's
// mark moved since c's take (another process was refused for credits),
// or cannot be read, c closes at once and the team reserves per call
// for a while: its credits go back to whoever waits. If a change was
// announced since c's take, or c is blockMaxAge old, c closes; if it
// handed out credits since the last look, the next block is taken in
// the transaction that closes it (a team busy here would take one with
// its next call anyway; one that stopped leaves nothing parked).
// Otherwise c stays open, and folds put off go on their own.
//
// The mark is read only when the change versions are not c's (or
// unknown), or at c's age: a refusal announces its mark (waitRefused),
// and c.wanted was read after versions equal to c's were. A mark moved
// since then committed before its announcement, so the versions read
// now have moved too, once this process heard it (PostgreSQL: a
// notification still on its way is a look later; a lost one is a
// reconnection, which moves the version). An announcement that failed
// leaves the mark to c's age.
func (b *blocks) look(team string, c *block) {
	v, now := b.s.keys.versions(), time.Now()
	w, err := c.wanted, error(nil)
	if !v.ok || v.local != c.local || v.remote != c.remote || now.Sub(c.taken) >= blockMaxAge {
		ctx, cancel := context.WithTimeout(context.Background(), storeWait)
		w, err = b.s.store.Wanted(ctx, team)
		cancel()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	tb := b.teams[team]
	if tb == nil || tb.cur != c {
		return
	}
	switch {
	case err != nil || w != c.wanted:
		if err != nil {
			b.s.failing.failed("account: reading a team's mark; closing its block", err, "team", team)
		}
		b.closeLocked(tb, c, now)
		tb.perCall = now.Add(perCallFor)
		return
	case v.ok && v.local == c.local && v.remote == c.remote && now.Sub(c.taken) < blockMaxAge && !b.closed:
		if len(tb.folds) > 0 {
			b.giveBackLocked(tb, BlockClose{})
		}
		c.looked = c.used
		c.timer.Reset(blockLook)
		return
	}
	last := b.shutLocked(tb, c, now)
	if c.used == c.looked || !v.ok || b.closed || now.Before(tb.perCall) || tb.taking != nil {
		b.giveBackLocked(tb, last)
		return
	}
	// w was read after v: only a moved view or c's age gets here.
	b.takeLocked(context.Background(), team, tb, c.need, now, v, &last, &w, now.Add(storeWait))
}

// waitTake waits until ch is closed (true), ctx is done or until passes.
func waitTake(ctx context.Context, ch chan struct{}, until time.Time) bool {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// closeLocked closes tb's open block c: no more calls from it, its
// unused credits go back to the team, and its rate sizes the next one.
func (b *blocks) closeLocked(tb *teamBlocks, c *block, now time.Time) {
	b.giveBackLocked(tb, b.shutLocked(tb, c, now))
}

// shutLocked closes c in memory: no more calls from it, its rate sizes
// the next block; it returns how to close it in the store.
func (b *blocks) shutLocked(tb *teamBlocks, c *block, now time.Time) BlockClose {
	tb.cur = nil
	c.closed = true
	c.timer.Stop()
	age := min(max(now.Sub(c.taken), 10*time.Millisecond), blockMaxAge)
	tb.rate = float64(c.used) / age.Seconds()
	// Folded now only if no call of it is running; else after the last.
	return BlockClose{ID: c.id, Credits: c.size - c.used, Fold: c.calls == 0}
}

// giveBackLocked closes a block in the store as c says, off the caller's
// path, with the team's folds put off until now (b.mu is held).
func (b *blocks) giveBackLocked(tb *teamBlocks, c BlockClose) {
	n := 1
	if tb != nil {
		n += len(tb.folds) // counted when put off
		c.Folds, tb.folds = append(c.Folds, tb.folds...), nil
		tb.returning++
	}
	b.returning.Add(1)
	go func() {
		defer b.returning.Add(-n)
		if tb != nil {
			defer func() {
				b.mu.Lock()
				tb.returning -= n
				b.mu.Unlock()
			}()
		}
		b.closeInStore(c)
	}()
}

// closeInStore stores c, and tries again while the store fails, at
// growing intervals (giveBackPause), until it is stored or this process
// stops (then its lease's release gives back what its blocks hold).
// Trying again is safe: a close stored already gives nothing back again
// (BlockClose), a refused calls' give-back (Held) gives only what the
// store lacks of its total, and a fold takes only what is not folded
// yet. Until
// then the team counts as giving back (teamBlocks.returning): this
// process's refusals for its credits wait for it, within refusedWait.
func (b *blocks) closeInStore(c BlockClose) {
	pause := giveBackPause
	for tries := 1; ; tries++ {
		ctx, cancel := context.WithTimeout(context.Background(), storeWait)
		err := b.s.store.CloseBlock(ctx, c)
		cancel()
		if err == nil {
			b.s.failing.ok()
			if tries > 1 {
				b.s.log.Info("account: gave back a block's credits", "block", c.ID, "held", c.Held, "tries", tries)
			}
			return
		}
		if tries == 1 {
			b.s.failing.failed("account: giving back a block's credits; trying again", err, "block", c.ID, "credits", c.Credits, "held", c.Held)
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-b.stop:
			t.Stop()
			b.s.log.Warn("account: giving back a block's credits; stopping, its lease's release will", "block", c.ID, "credits", c.Credits, "held", c.Held, "tries", tries, "err", err)
			return
		}
		pause = min(2*pause, giveBackPauseMax)
		// Its calls' records may have found it open meanwhile, leaving
		// their charges to a fold.
		c.Fold = c.ID != "" && !c.Held
	}
}

// close closes every open block, gives back their unused credits and
// waits until the store has them.
func (b *blocks) close() {
	b.mu.Lock()
	if !b.closed {
		close(b.stop)
	}
	b.closed = true
	now := time.Now()
	for _, tb := range b.teams {
		if tb.cur != nil {
			b.closeLocked(tb, tb.cur, now)
		}
	}
	b.mu.Unlock()
	b.returning.Wait()
}

// retryParked runs try, and while it is refused for credits that may be
// parked in another process's open block, runs it again (waitRefused).
// A block's give-back can land between a refused try and the look that
// finds no block open any more: its credits are free by then, so that
// look is followed by one last try before the refusal stands.
func (s *Service) retryParked(ctx context.Context, team string, try func() error) error {
	err := try()
	if !errors.Is(err, ErrInsufficientCredits) {
		return err
	}
	b := s.blocks
	if b == nil {
		// No blocks here (the CLI, RUNNEL_CREDIT_BLOCKS=off): other
		// processes' may still hold the credits.
		b = newBlocks(s)
	}
	deadline, pause := time.Now().Add(refusedWait), 10*time.Millisecond
	marked := false
	for errors.Is(err, ErrInsufficientCredits) {
		parked, again := b.waitRefused(ctx, team, deadline, &pause, &marked)
		if !again {
			break
		}
		err = try()
		if !parked {
			break
		}
	}
	return err
}

// waitRefused decides, for a per-call reservation (or a job, or a
// removal of credits) of team refused for credits, whether to try again
// (again). This process's own open block of the team closes. While
// another process holds an open block of the team, or this one is
// giving back a closed block's unused credits (parked), it waits a
// little first, until deadline; the first time it finds another
// process's block open it marks the team (*marked) and announces the
// mark, so that the block closes at its next look. When neither holds, it says to try once more
// at once, the last time.
func (b *blocks) waitRefused(ctx context.Context, team string, deadline time.Time, pause *time.Duration, marked *bool) (parked, again bool) {
	b.mu.Lock()
	tb := b.teams[team]
	if tb != nil {
		now := time.Now()
		tb.perCall = now.Add(perCallFor)
		if tb.cur != nil {
			b.closeLocked(tb, tb.cur, now)
		}
		parked = tb.returning > 0 // this process's own closed blocks
	}
	b.mu.Unlock()
	if time.Now().After(deadline) {
		return false, false
	}
	if !parked || !*marked {
		octx, cancel := context.WithDeadline(ctx, deadline)
		open, err := b.s.store.OpenBlocks(octx, team, b.s.owner)
		if err == nil && open && !*marked {
			*marked = true
			if werr := b.s.store.Want(octx, team); werr != nil {
				b.s.failing.failed("account: marking a team refused for credits; its blocks close by age", werr, "team", team)
			} else if aerr := b.s.announceAgain(octx, b.s.keys.announce(octx)); aerr != nil {
				// Other processes' looks read the mark only when the
				// change view moved (look), or at the block's age.
				b.s.log.Warn("account: announcing a team's mark; other processes' blocks of it close at their age", "err", aerr, "team", team, "age", blockMaxAge)
			}
		}
		cancel()
		if err != nil && !parked {
			return false, false
		}
		if !open && !parked {
			return false, true
		}
	}
	t := time.NewTimer(min(*pause, time.Until(deadline)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false, false
	}
	*pause = min(2**pause, 100*time.Millisecond)
	return true, true
}
