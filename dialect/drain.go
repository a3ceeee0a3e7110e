package dialect

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Drain ends the request of an upstream answer. After a complete answer
// its connection should go back to the pool, not be closed (which would
// cost the next call a TCP handshake to the upstream), and for that the
// few bytes that follow the last event ([DONE], the end of a chunked
// body) must be read. Close reads them on a goroutine of its own when the
// answer's reads did not reach them, so that the client's response ends
// with the answer, not when the upstream's does: an upstream that holds
// its end back (up to DrainWait, when its body is closed) no longer holds
// the client's end, nor its connection's next call.
//
// A drain that outlives its call must not be cut short by the call's
// context, which ends with the client's response: cancelling an
// upstream request closes its connection. So a provider sends its
// request with the drain's Context, through which the call's
// cancellation reaches the request only until Close takes over.
//
// One timer guards all the drains under way, not one timer (and closure)
// each: the drain is linked in a list that the timer walks
// (docs/benchmarks.md, issue 13, callalloc session). The zero Drain is
// ready; a stream keeps one in its own struct, made before its request
// is sent.
type Drain struct {
	req        requestCtx
	closing    atomic.Bool // Close was called
	body       io.Closer
	at         time.Duration // deadline, since drains.base
	prev, next *Drain
	linked     bool   // in drains' list; guarded by drains.mu
	pending    *Drain // the next drain no goroutine has taken; guarded by drains.mu
	r          io.LimitedReader
}

// DrainWait bounds a drain.
const DrainWait = time.Second

// drainMax bounds what a drain reads.
const drainMax = 4 << 10

var drains struct {
	mu         sync.Mutex
	head, tail *Drain
	timer      *time.Timer
	armed      bool
	base       time.Time
	running    int           // drains whose goroutine has not ended
	pending    *Drain        // drains linked but not yet taken by a goroutine (runDrain)
	idle       chan struct{} // closed when running drops to 0; made by a waiter
	started    int64         // drains that had a goroutine, ever
}

func init() { drains.base = time.Now() }

// Context returns the context to send the upstream request with: parent,
// whose cancellation (a client gone, a call closed early) ends the
// request as before, until Close hands a complete answer's end to a
// drain of its own.
func (d *Drain) Context(parent context.Context) context.Context {
	d.req.Context = parent
	return &d.req
}

// Close ends the request of a complete answer whose body is body, and
// returns at once, the request detached from the call's context (see
// Context). ended says that the answer's reads met the body's end: its
// connection is back in the pool, and the body is closed now. Else the
// rest of the body (up to 4 KiB) is read on a goroutine of its own, then
// the body closed; a body whose end does not come within DrainWait is
// closed then, which closes its connection. Calls after the first do
// nothing.
func (d *Drain) Close(body io.ReadCloser, ended bool) {
	if d.closing.Swap(true) {
		return
	}
	// Before the call's context is cancelled, which would otherwise
	// start a goroutine to pass it on (context.AfterFunc) when the
	// transport has not yet let go of the request it answered.
	d.req.detach()
	if ended {
		body.Close()
		return
	}
	d.body = body
	d.r = io.LimitedReader{R: body, N: drainMax} // CopyN would allocate one
	d.link()
	go runDrain()
}

// runDrain runs a drain that link queued. Close starts it with no
// argument: `go d.run()` would allocate a closure to hold d, one
// allocation a drain. link queues one drain before each goroutine
// starts, and each goroutine takes one; which one does not matter.
func runDrain() {
	drains.mu.Lock()
	d := drains.pending
	drains.pending, d.pending = d.pending, nil
	drains.mu.Unlock()
	d.run()
}

// link puts d in the drains' list, with its deadline, and arms the timer
// if it is not; and queues it for a goroutine (runDrain).
func (d *Drain) link() {
	drains.mu.Lock()
	drains.running++
	drains.started++
	d.at = time.Since(drains.base) + DrainWait
	d.prev, d.next, d.linked = drains.tail, nil, true
	if drains.tail != nil {
		drains.tail.next = d
	} else {
		drains.head = d
	}
	drains.tail = d
	d.pending, drains.pending = drains.pending, d
	if !drains.armed {
		drains.armed = true
		if drains.timer == nil {
			drains.timer = time.AfterFunc(DrainWait, sweepDrains)
		} else {
			drains.timer.Reset(DrainWait)
		}
	}
	drains.mu.Unlock()
}

// run reads the rest of the body to its end (which puts its connection
// back in the pool), or until the timer closes it, then closes it.
func (d *Drain) run() {
	io.Copy(io.Discard, &d.r)
	d.r.R = nil
	drains.mu.Lock()
	if d.linked {
		d.unlink()
	}
	drains.mu.Unlock()
	d.body.Close()
	drains.mu.Lock()
	if drains.running--; drains.running == 0 && drains.idle != nil {
		close(drains.idle)
		drains.idle = nil
	}
	drains.mu.Unlock()
}

// unlink takes d out of the list. Called with drains.mu held.
func (d *Drain) unlink() {
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		drains.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		drains.tail = d.prev
	}
	d.prev, d.next, d.linked = nil, nil, false
}

// sweepDrains runs on the timer: it closes the bodies of the drains past
// their deadline (deadlines come in the order drains start) and re-arms
// for the next one.
func sweepDrains() {
	var late []io.Closer
	drains.mu.Lock()
	now := time.Since(drains.base)
	for d := drains.head; d != nil && d.at <= now; d = drains.head {
		late = append(late, d.body)
		d.unlink()
	}
	if d := drains.head; d != nil {
		drains.timer.Reset(d.at - now)
	} else {
		drains.armed = false
	}
	drains.mu.Unlock()
	// Outside the lock: a body's Close may take the transport's locks.
	for _, b := range late {
		b.Close()
	}
}

// WaitDrains waits until the drains under way have ended (each within
// DrainWait), their connections back in the pool or closed: for tests,
// which check connections and goroutines after a call.
func WaitDrains() {
	drains.mu.Lock()
	if drains.running == 0 {
		drains.mu.Unlock()
		return
	}
	if drains.idle == nil {
		drains.idle = make(chan struct{})
	}
	idle := drains.idle
	drains.mu.Unlock()
	<-idle
}

// DrainsStarted is how many drains had a goroutine of their own (their
// answer's reads did not meet the body's end) since the process started.
func DrainsStarted() int64 {
	drains.mu.Lock()
	defer drains.mu.Unlock()
	return drains.started
}

// CloseDrains closes the bodies of the drains under way, and waits until
// their goroutines have ended: for a server shutting down, whose upstream
// connections go with it.
func CloseDrains() {
	var bodies []io.Closer
	drains.mu.Lock()
	for d := drains.head; d != nil; d = drains.head {
		bodies = append(bodies, d.body)
		d.unlink()
	}
	drains.mu.Unlock()
	for _, b := range bodies {
		b.Close()
	}
	WaitDrains()
}

// requestCtx is an upstream request's context: the call's, until detach,
// after which the call's cancellation no longer reaches the request. The
// transport ties a request's own context to it through AfterFunc, which
// registers that on the call's context, and detach undoes; for that,
// Value does not give the transport the call's *context.cancelCtx, which
// it would join directly (context.WithCancel's fast path).
type requestCtx struct {
	context.Context
	stop func() bool // undoes AfterFunc's registrations; nil before any
}

func (c *requestCtx) Value(key any) any {
	if key == cancelCtxKey {
		return nil
	}
	return c.Context.Value(key)
}

// AfterFunc is the context.AfterFunc of the call's context: a request's
// context derived from c (context.WithCancelCause in the transport, a
// client's deadline) is cancelled with the call's until detach.
func (c *requestCtx) AfterFunc(f func()) func() bool {
	stop := context.AfterFunc(c.Context, f)
	if prev := c.stop; prev != nil {
		// A second registration (a redirect, a client's deadline): rare.
		c.stop = func() bool { a := prev(); return stop() && a }
	} else {
		c.stop = stop
	}
	return stop
}

// detach undoes the registrations on the call's context.
func (c *requestCtx) detach() {
	if c.stop != nil {
		c.stop()
	}
}

// cancelCtxKey is the key for which the context package's cancelCtx
// answers with itself: context.Cause of a cancelled context looks it up
// first.
var cancelCtxKey = func() any {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	p := &keyProbe{Context: done}
	context.Cause(p)
	return p.key
}()

// keyProbe notes the first key it is asked for.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}
