package dialect

import (
	"io"
	"sync"
	"time"
)

// Drain reads what is left of a complete upstream answer (the few bytes
// after its last event: [DONE], the end of a chunked body), so that its
// connection goes back to the pool instead of being closed, which would
// cost the next call a TCP handshake to the upstream. An upstream that
// stalls there has its body closed after DrainWait. One timer guards all
// the drains under way, not one timer (and closure) each: the drain is
// linked in a list that the timer walks (docs/benchmarks.md, issue 13,
// callalloc session). The zero Drain is ready; a stream keeps one in its
// own struct.
type Drain struct {
	body       io.Closer
	at         time.Duration // deadline, since drains.base
	prev, next *Drain
	linked     bool // in drains' list; guarded by drains.mu
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
}

func init() { drains.base = time.Now() }

// Run reads up to 4 KiB from r, the reader of body, to its end; body is
// closed if that takes longer than DrainWait. It returns when the read
// ends.
func (d *Drain) Run(r io.Reader, body io.Closer) {
	d.body = body
	drains.mu.Lock()
	d.at = time.Since(drains.base) + DrainWait
	d.prev, d.next, d.linked = drains.tail, nil, true
	if drains.tail != nil {
		drains.tail.next = d
	} else {
		drains.head = d
	}
	drains.tail = d
	if !drains.armed {
		drains.armed = true
		if drains.timer == nil {
			drains.timer = time.AfterFunc(DrainWait, sweepDrains)
		} else {
			drains.timer.Reset(DrainWait)
		}
	}
	drains.mu.Unlock()
	d.r = io.LimitedReader{R: r, N: drainMax} // CopyN would allocate one
	io.Copy(io.Discard, &d.r)
	d.r.R = nil
	drains.mu.Lock()
	if d.linked {
		d.unlink()
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
