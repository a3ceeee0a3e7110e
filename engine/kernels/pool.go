package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A job is one MatMul or Parallel call. Its rows are handed out in chunks
// through an atomic counter, so whichever goroutines are running take the
// work, and the caller always works too. The caller waits only for chunks
// that a helper has claimed, never for a helper that has not started: on a
// shared, noisy machine a descheduled worker costs nothing but its own
// share, where a fork-join barrier would stall the whole product until it
// ran.
//
// Jobs are recycled, so a worker may look at a job after it finished and
// was reused. The counter carries a generation in its high 32 bits and the
// next row in its low 32; a helper reads the generation with the row, and
// claiming a chunk is a compare-and-swap that fails if the job has moved on.
type job struct {
	m        *Matrix
	dst, x   []float32
	n        int
	xq       qvec
	rowBytes int
	fn       func(lo, hi int) // set by Parallel instead of a product
	align    int              // chunks are a multiple of this many rows (0: see run)

	next  atomic.Uint64 // generation<<32 | next row
	total atomic.Int64  // rows of this generation
	chunk atomic.Int64
	// share: a claim takes 1/share of the rows still open, rounded up to
	// a multiple of quantum, at most chunk and at least least rows (0:
	// chunks of chunk rows).
	share, least, quantum atomic.Int64
	done                  atomic.Int64 // rows finished
	// asleep is set by a caller that has run out of chunks and blocks on
	// doneCh; the helper that finishes the last rows clears it and wakes it.
	asleep atomic.Bool
	doneCh chan struct{}
	gen    uint32
}

var jobs = sync.Pool{New: func() any { return &job{doneCh: make(chan struct{}, 1)} }}

func getJob() *job  { return jobs.Get().(*job) }
func putJob(j *job) { jobs.Put(j) }

// parallelMin is the work (multiply-adds) below which a product runs on the
// calling goroutine: handing chunks to another core costs cache-line
// transfers, more than a tiny matrix takes. Chosen by
// BenchmarkMatVecThreshold.
var parallelMin = 1 << 15

// The pool: a worker per core products may use but one, the caller being
// the last (SetThreads; GOMAXPROCS by default), looking for work on a
// board.
//
// Why workers spin: a token of a 15M-parameter model is ~45 products of
// 10–2000 µs each, back to back. A worker parked on a channel takes tens of
// microseconds to be woken (futex wake, then the Go scheduler makes it
// steal the goroutine from the caller's P after a pause), so most small
// products were over before it arrived and one stream ran on about one
// core. OpenMP (llama2.c's runomp) spins its threads between parallel
// regions for the same reason. But a spinning worker burns a core, so
// workers spin only while the pool is held (Hold): the engine holds it
// while a sequence is running and lets go when it has nothing to do; an
// unheld pool parks its workers as soon as the board is empty, so an idle
// engine costs no CPU at all. Even held, a worker parks after spinFor
// without work: on a loaded machine an endless spin takes the time slices
// the caller needs (a 15M decode ran 3× slower when workers spun for as
// long as the pool was held).
var pool struct {
	once    sync.Once
	workers int
	board   atomic.Pointer[job] // the job helpers should take chunks of
	parked  atomic.Int32        // workers blocked on wake
	wake    chan struct{}
	started atomic.Bool

	holds atomic.Int32 // Hold.Acquire calls not yet released
	// For the tests: how many times workers parked, and how many pauses
	// they spun on an empty board (added up when a worker parks).
	parks, spins atomic.Int64
	// Jobs posted to the board (see Handoffs); on its own cache line,
	// as only callers write it.
	_      [64]byte
	posted atomic.Int64
}

// Handoffs reports how many jobs have been handed to the pool's helpers
// (each one a wait for them at its end) since the process started: for
// tests and benchmarks that count a step's hand-offs.
func Handoffs() int64 { return pool.posted.Load() }

// Hold keeps the pool's workers spinning between products (up to spinFor
// each time), ready for the next one, from Acquire until Release; a zero
// Hold is released. A Hold is not safe for concurrent use: each scheduler
// loop owns one.
type Hold struct{ held bool }

// Acquire holds the pool, if this Hold does not already.
func (h *Hold) Acquire() {
	if h.held {
		return
	}
	h.held = true
	pool.holds.Add(1)
	// Start parked workers spinning, so the next product finds them awake.
	if pool.started.Load() {
		for range pool.parked.Load() {
			select {
			case pool.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Release lets the pool's workers park once the board is empty, if this
// Hold held it and no other Hold does.
func (h *Hold) Release() {
	if h.held {
		h.held = false
		pool.holds.Add(-1)
	}
}

// spinFor is how long (ns) a worker of a held pool polls an empty board
// before parking. It spans the gap between two decode steps (sampling,
// handing the token to its stream), so a steady decode never pays a
// wake-up. Atomic so that a test can lengthen it.
var spinFor atomic.Int64

func init() { spinFor.Store(int64(200 * time.Microsecond)) }

// yieldAfter is the idle spell after which a spinning worker also yields
// its thread to the OS at each check: longer than the gaps between a
// step's products (norms, RoPE), so a worker with a core to itself keeps
// polling through them, and a sched_yield with nothing else to run
// returns at once anyway.
const yieldAfter = 20 * time.Microsecond

// threads caps the cores products use, the caller's included; 0 means
// GOMAXPROCS. See SetThreads.
var threads atomic.Int32

// SetThreads caps the cores a product uses, the calling goroutine's
// included, at n (n < 1: GOMAXPROCS, the default), so that an engine can
// leave cores to the rest of the process (a gateway serving other
// providers). The pool is sized once, at the first parallel product:
// SetThreads reports false, changing nothing, if that has happened with a
// different size.
func SetThreads(n int) bool {
	if n < 0 {
		n = 0
	}
	threads.Store(int32(n))
	if pool.started.Load() && pool.workers != threadCount()-1 {
		return false
	}
	return true
}

// threadCount is how many cores products use.
func threadCount() int {
	p := runtime.GOMAXPROCS(0)
	if t := int(threads.Load()); t > 0 && t < p {
		return t
	}
	return p
}

func startPool() {
	pool.workers = threadCount() - 1
	pool.wake = make(chan struct{}, pool.workers)
	pool.started.Store(true) // after wake is made: Hold.Acquire reads it
	for range pool.workers {
		go worker()
	}
}

func worker() {
	for {
		var idle int64 // pauses spun on an empty board
		last := time.Now()
		for spins := 0; ; spins++ {
			if j := pool.board.Load(); j != nil {
				v := j.next.Load()
				if int64(uint32(v)) < j.total.Load() {
					j.work(uint32(v>>32), false)
					last, spins = time.Now(), 0
					continue
				}
			}
			if pool.holds.Load() == 0 {
				break
			}
			// Every so often: read the clock (it costs more than a poll),
			// and let any goroutine waiting in the global run queue have
			// this core (the engine's scheduler yields there after each
			// step so that its streams, readied on its own core, can run).
			// Past a short idle spell, also offer the core to the OS: when
			// another process holds the other core, this thread and the
			// caller's share one, and a spin through the caller's time
			// slice stalls the whole product (a held pool's decode lost
			// 25-30% of its wall clock to that, against parking).
			if spins%64 == 63 {
				idle := time.Since(last)
				if idle > time.Duration(spinFor.Load()) {
					break
				}
				runtime.Gosched()
				if idle > yieldAfter {
					osYield()
				}
			}
			spinPause()
			idle++
		}
		pool.spins.Add(idle)
		// Park, unless a job was posted meanwhile. The caller stores the
		// board and then reads parked; this goroutine adds to parked and
		// then reads the board, so one of the two sees the other. (A
		// Hold's Acquire wakes parked workers through the same channel,
		// but one that misses it costs only a wake-up at the next job.)
		pool.parked.Add(1)
		if j := pool.board.Load(); j != nil && int64(uint32(j.next.Load())) < j.total.Load() {
			pool.parked.Add(-1)
			continue
		}
		pool.parks.Add(1)
		<-pool.wake // a stale token only costs one more poll
		pool.parked.Add(-1)
	}
}

// work claims and computes chunks of generation gen until none are left.
// It reports whether this goroutine finished the job's last rows; a helper
// that does so wakes the caller if the caller went to sleep.
func (j *job) work(gen uint32, caller bool) (last bool) {
	for {
		v := j.next.Load()
		if uint32(v>>32) != gen {
			return false // the job has moved on
		}
		total, chunk := j.total.Load(), j.chunk.Load()
		lo := int64(uint32(v))
		if lo >= total {
			return false
		}
		if s := j.share.Load(); s > 0 {
			q := j.quantum.Load()
			chunk = min(chunk, max(j.least.Load(), ((total-lo)/s+q-1)/q*q))
		}
		hi := min(lo+chunk, total)
		if !j.next.CompareAndSwap(v, v+uint64(hi-lo)) {
			continue
		}
		j.rows(int(lo), int(hi))
		if j.done.Add(hi-lo) == total {
			if !caller && j.asleep.Swap(false) {
				j.doneCh <- struct{}{}
			}
			return true
		}
	}
}

// run computes all rows of j, in parallel when work is large enough.
func run(j *job, rows, work int) {
	p := threadCount()
	if p == 1 || work < parallelMin || rows < 2 {
		j.rows(0, rows)
		return
	}
	pool.once.Do(startPool)
	if pool.workers < 1 {
		j.rows(0, rows)
		return
	}
	p = pool.workers + 1
	// About four chunks per core balances load without much contention.
	// A product's chunks (fused ones included) are multiples of 4 rows,
	// or of align, so the multi-row kernels stay aligned, and they shrink
	// over the second half of the rows (each claim 1/(2p) of the rows
	// still open, down to a tile with parallelMin multiply-adds), so the
	// cores finish within a small chunk of each other: with equal chunks,
	// a core slowed by its neighbours left the other idle for up to a
	// chunk, an eighth of a one-stream product on two cores. Parallel's
	// rows (attention units, draws) are few and costly and keep equal
	// chunks: attention prefetches the next unit of its chunk, and
	// one-unit tail chunks measured no faster.
	chunk := (rows + 4*p - 1) / (4 * p)
	quantum, least, share := 1, 1, 0
	if j.fn == nil || (j.align > 0 && guidedFused) {
		quantum = max(4, j.align)
		perRow := max(work/rows, 1)
		least = max(tileRows, (parallelMin+perRow-1)/perRow)
		share = 2 * p
	}
	chunk = (chunk + quantum - 1) / quantum * quantum
	least = (least + quantum - 1) / quantum * quantum
	// First move the counter to the new generation with nothing to claim,
	// so a helper still looking at the old one can no longer claim a chunk;
	// only then change the sizes, and finally open the rows. (Changing the
	// sizes first would let a late helper pair the old counter with the
	// new total.)
	j.gen++
	j.next.Store(uint64(j.gen)<<32 | 0xffffffff)
	j.total.Store(int64(rows))
	j.chunk.Store(int64(chunk))
	j.share.Store(int64(share))
	j.least.Store(int64(least))
	j.quantum.Store(int64(quantum))
	j.done.Store(0)
	j.asleep.Store(false)
	j.next.Store(uint64(j.gen) << 32)
	pool.posted.Add(1)
	pool.board.Store(j)
	if pool.parked.Load() > 0 {
		for range min(int(pool.parked.Load()), (rows+chunk-1)/chunk-1) {
			select {
			case pool.wake <- struct{}{}:
			default:
			}
		}
	}
	if !j.work(j.gen, true) {
		j.wait(int64(rows))
	}
	pool.board.CompareAndSwap(j, nil)
}

// guidedFused gives fused products (MatMulActsFused, MatMulActsGated) the
// shrinking chunks other products have; only benchmarks turn it off.
var guidedFused = true

// SetGuidedFused turns shrinking chunks for the fused products on or off
// and reports whether they were on, for benchmarks that compare the two
// in one process (the results are the same bits either way). Call it
// only while no product runs.
func SetGuidedFused(on bool) bool {
	was := guidedFused
	guidedFused = on
	return was
}

// wait returns once helpers have finished the chunks they claimed. A
// claimed chunk is being computed right now, so it first polls for a
// while (a wake-up through the scheduler costs more than most chunks);
// if the helper's thread was descheduled, it sleeps until woken.
func (j *job) wait(total int64) {
	for range 2000 {
		if j.done.Load() == total {
			return
		}
		spinPause()
	}
	j.asleep.Store(true)
	if j.done.Load() == total && j.asleep.Swap(false) {
		return // finished meanwhile, and the helper did not see asleep
	}
	<-j.doneCh
}

// Parallel calls f on disjoint ranges [lo, hi) covering [0, n), spread over
// the worker pool when work (an estimate in multiply-adds) is large enough
// to pay for it, else in one call on this goroutine. f must be safe to run
// concurrently on different ranges. Like the products, it never waits for a
// worker that has not started.
func Parallel(n, work int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	j := getJob()
	j.fn = f
	run(j, n, work)
	j.fn = nil
	putJob(j)
}
