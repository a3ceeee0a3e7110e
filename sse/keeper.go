package sse

import (
	"net/http"
	"sync"
	"time"
)

// A Keeper runs the keep-alives and header graces of the Writers it makes
// on one timer, where NewWriter's Writers have a timer (and a closure)
// each: a server that opens a Writer a call spares the timer's
// allocations and its heap's work on every call (docs/benchmarks.md,
// issue 13, percall3 session). Its Writers are linked in a list that the
// timer walks when a keep-alive may be due, and a Writer whose headers
// wait (Options.DeferFlush) in a queue in the order of their deadlines,
// all HeaderGrace after they were queued.
//
// A keep-alive goes when its Writer has been silent for its interval, as
// a Writer's own timer sends it, except that a walk of the list comes at
// least 1/64 of the shortest interval after the walk before the last: a
// keep-alive may come that much late when many silences end close
// together, which bounds the walks of a list of silent Writers.
//
// The zero Keeper is ready; it must not be copied after first use. Its
// timer belongs to the goroutine that first arms it: a Keeper used in a
// synctest bubble stays in it.
type Keeper struct {
	mu     sync.Mutex
	base   time.Time     // the times below count from it
	alive  list          // the Writers with keep-alives (their kl)
	graces list          // the header graces, in the order of their deadlines (gl)
	timer  *time.Timer   // the keep-alives' walks
	at     time.Duration // when timer fires; 0 when it is not armed
	// gtimer ends the header graces, apart from timer: it is stopped
	// when the last grace leaves the queue (the usual grace ends with
	// its stream's first event), where timer's firing for nothing would
	// start a goroutine (time.AfterFunc's) for that grace.
	gtimer  *time.Timer
	gat     time.Duration // when gtimer fires; 0 when it is not armed
	due     time.Duration // the first keep-alive that may be due; 0 for none
	walked  time.Duration // when the last walk began
	walking sync.Mutex    // one walk at a time; guards batch
	batch   []*Writer
}

// graceRetry is how long after a busy Writer's grace (see fire) it is
// tried again: the lock's holder is about to flush, or is writing the
// headers to a client that does not read, so the retry is rarely needed,
// and no sooner than this it costs little while a client stays stuck.
const graceRetry = 10 * time.Millisecond

// NewWriter is the package's NewWriter, for a Writer whose keep-alives
// and header grace run on k's timer.
func (k *Keeper) NewWriter(w http.ResponseWriter, o Options) *Writer {
	return newWriter(w, o, k)
}

// Open is NewWriter for sw, a zero Writer that its caller keeps in a
// struct of its own (an allocation less a stream), with its keep-alives
// and header grace on k's timer. sw must not be copied, and no other
// goroutine may use it before Open returns.
func (k *Keeper) Open(sw *Writer, w http.ResponseWriter, o Options) {
	sw.open(w, o, k)
}

// now is the time since k.base. Called with mu held.
func (k *Keeper) now() time.Duration {
	if k.base.IsZero() {
		k.base = time.Now()
	}
	return time.Since(k.base) + 1 // never 0, which means "none"
}

// add links w, just made, in the keep-alives' list. w.mu is held.
func (k *Keeper) add(w *Writer) {
	k.mu.Lock()
	k.alive.push(w, alive)
	if due := k.now() + w.keepAlive; k.due == 0 || due < k.due {
		k.due = due
		k.arm(due)
	}
	k.mu.Unlock()
}

// graceFor queues w's header grace. w.mu is held.
func (k *Keeper) graceFor(w *Writer) {
	k.mu.Lock()
	now := k.now()
	at := now + HeaderGrace
	w.gat = at
	k.graces.push(w, grace)
	k.armGrace(at, now)
	k.mu.Unlock()
}

// drop takes w out of the list and the queue: grace (the headers went)
// or all (w closed). w.mu is held.
func (k *Keeper) drop(w *Writer, all bool) {
	k.mu.Lock()
	w.gat = 0    // no grace is owed: fire must not queue it again
	if w.gl.in { // checked here: remove's call costs more than the check
		k.graces.remove(w, grace)
		if k.graces.head == nil && k.gat != 0 {
			// No grace left to end (see gtimer). A firing already
			// under way finds none.
			k.gtimer.Stop()
			k.gat = 0
		}
	}
	if all && w.kl.in {
		k.alive.remove(w, alive)
	}
	k.mu.Unlock()
}

// links are a Writer's place in one of a Keeper's lists.
type links struct {
	prev, next *Writer
	in         bool
}

// list is a doubly linked list of Writers, through the links that of
// finds in each: alive's or grace's. Guarded by its Keeper's mu.
type list struct{ head, tail *Writer }

func alive(w *Writer) *links { return &w.kl }
func grace(w *Writer) *links { return &w.gl }

// push puts w at the end of l.
func (l *list) push(w *Writer, of func(*Writer) *links) {
	*of(w) = links{prev: l.tail, in: true}
	if l.tail != nil {
		of(l.tail).next = w
	} else {
		l.head = w
	}
	l.tail = w
}

// remove takes w out of l, if it is in it.
func (l *list) remove(w *Writer, of func(*Writer) *links) {
	lw := of(w)
	if !lw.in {
		return
	}
	if lw.prev != nil {
		of(lw.prev).next = lw.next
	} else {
		l.head = lw.next
	}
	if lw.next != nil {
		of(lw.next).prev = lw.prev
	} else {
		l.tail = lw.prev
	}
	*lw = links{}
}

// arm makes the keep-alives' timer fire at at, unless it fires sooner.
// Called with mu held. It is not stopped when its Writers close: it
// fires once for nothing, where stopping it would cost every call.
func (k *Keeper) arm(at time.Duration) {
	if k.at != 0 && k.at <= at {
		return
	}
	k.at = at
	d := at - k.now()
	if k.timer == nil {
		k.timer = time.AfterFunc(d, k.fireWalk)
		return
	}
	k.timer.Reset(d)
}

// armGrace is arm for the graces' timer, now being k.now().
func (k *Keeper) armGrace(at, now time.Duration) {
	if k.gat != 0 && k.gat <= at {
		return
	}
	k.gat = at
	d := at - now
	if k.gtimer == nil {
		k.gtimer = time.AfterFunc(d, k.fireGrace)
		return
	}
	k.gtimer.Reset(d)
}

// fireWalk and fireGrace run on the two timers: either does all that is
// due (fire), the timer that fired no longer armed.
func (k *Keeper) fireWalk()  { k.fire(&k.at) }
func (k *Keeper) fireGrace() { k.fire(&k.gat) }

// fire sends the headers whose grace ended and, if a keep-alive may be
// due, walks the Writers; then it arms the timers for what comes next.
// fired is the armed time of the timer that fired. Writers are locked
// outside mu (their own calls take mu under theirs).
func (k *Keeper) fire(fired *time.Duration) {
	k.walking.Lock()
	defer k.walking.Unlock()
	k.mu.Lock()
	*fired = 0
	now := k.now()
	batch := k.batch[:0]
	for w := k.graces.head; w != nil && w.gat <= now; w = k.graces.head {
		k.graces.remove(w, grace)
		batch = append(batch, w)
	}
	graces := len(batch)
	walk := k.due != 0 && k.due <= now
	prev := k.walked
	if walk {
		k.due, k.walked = 0, now // Writers added during the walk lower k.due again
		for w := k.alive.head; w != nil; w = w.kl.next {
			batch = append(batch, w)
		}
	}
	k.mu.Unlock()

	// A Writer whose lock is held is writing, or blocked writing to a
	// client that stopped reading: the walk never waits for one, or a
	// single stuck client would hold up every other stream's headers and
	// keep-alives. Its grace is tried again graceRetry later; its
	// keep-alive at the next walk. A keep-alive is written on a goroutine
	// of its own, as a Writer's own timer wrote it: it goes to a stream
	// silent for its interval, whose client may have stopped reading
	// since. A grace's headers are written here: they are a response's
	// first bytes, and an HTTP/1 client has read all before them before
	// it sent its request.
	retry := batch[:0] // over entries already done with
	for _, w := range batch[:graces] {
		if !w.graceEnded() {
			retry = append(retry, w)
		}
	}
	retries := len(retry)
	var due, step time.Duration
	// Writers that failed stay unusable: taken out of the list, they go
	// to the collector even if their handler never closes them.
	failed := batch[retries:retries] // over entries already done with
	for _, w := range batch[graces:] {
		d, ka, ok := w.keptAlive(k.base)
		if d < 0 { // busy: look again a step later
			d = now + max(ka/64, 1)
		}
		if !ok {
			failed = append(failed, w)
			continue
		}
		if due == 0 || d < due {
			due = d
		}
		if step == 0 || ka/64 < step {
			step = ka / 64
		}
	}

	k.mu.Lock()
	for _, w := range failed {
		k.alive.remove(w, alive)
	}
	if retries > 0 {
		at := k.now() + graceRetry
		for _, w := range retry[:retries] {
			if w.gat != 0 && !w.gl.in { // not dropped meanwhile (headers sent, or closed)
				w.gat = at
				k.graces.push(w, grace)
			}
		}
	}
	clear(batch) // the Writers go, the array stays
	k.batch = batch[:0]
	if walk && due != 0 {
		due = max(due, prev+step)
		if k.due == 0 || due < k.due {
			k.due = due
		}
	}
	if k.due != 0 {
		k.arm(k.due)
	}
	if w := k.graces.head; w != nil {
		k.armGrace(w.gat, k.now())
	}
	k.mu.Unlock()
}

// graceEnded sends w's headers, whose grace ended, unless they went. It
// reports false, having done nothing, if w's lock is held (see fire).
func (w *Writer) graceEnded() bool {
	if !w.mu.TryLock() {
		return false
	}
	defer w.mu.Unlock()
	if w.usable() != nil || !w.grace {
		return true
	}
	w.grace = false
	w.ticking = true
	if w.unsent {
		w.flush()
	}
	w.ticking = false
	return true
}

// keptAlive sends w's keep-alive if it has been silent for its interval,
// and returns when the next is due (since base), its interval, and
// whether it has one: false once w is closed or failed. If w's lock is
// held (see fire) it does nothing and returns a due of -1, busy.
func (w *Writer) keptAlive(base time.Time) (due, keepAlive time.Duration, ok bool) {
	if !w.mu.TryLock() {
		return -1, w.keepAlive, true // keepAlive is set once, at open
	}
	defer w.mu.Unlock()
	if w.usable() != nil || w.keepAlive <= 0 {
		return 0, 0, false
	}
	if silent := time.Since(w.base); silent-w.last >= w.keepAlive {
		if !w.kaGoing {
			w.kaGoing = true
			go w.sendKeepAlive()
		}
		return w.base.Sub(base) + silent + w.keepAlive + 1, w.keepAlive, true
	}
	return w.base.Sub(base) + w.last + w.keepAlive + 1, w.keepAlive, true
}

// sendKeepAlive writes w's keep-alive, started by a Keeper's walk, unless
// an event went meanwhile. A Writer whose write fails leaves the Keeper.
func (w *Writer) sendKeepAlive() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kaGoing = false
	if w.usable() != nil || time.Since(w.base)-w.last < w.keepAlive {
		return
	}
	w.ticking = true
	w.comment("keep-alive")
	err := w.flush()
	w.ticking = false
	if err != nil {
		w.keeper.drop(w, true)
	}
}
