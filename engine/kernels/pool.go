package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A job is one MatMul call. Its rows are handed out in chunks through an
// atomic counter, so whichever goroutines are running take the work, and
// the caller always works too. The caller waits only for chunks that a
// helper has claimed, never for a helper that has not started: on a shared,
// noisy machine a descheduled worker costs nothing but its own share, where
// a fork-join barrier would stall the whole product until it ran.
//
// Jobs are recycled, so a worker may pick up a task after its job finished
// and was reused. The counter carries a generation in its high 32 bits and
// the next row in its low 32; a task names its generation, and claiming a
// chunk is a compare-and-swap that fails for a stale task.
type job struct {
	m        *Matrix
	dst, x   []float32
	n        int
	xq       qvec
	rowBytes int
	fn       func(lo, hi int) // set by Parallel instead of a product

	next   atomic.Uint64 // generation<<32 | next row
	total  atomic.Int64  // rows of this generation
	chunk  atomic.Int64
	done   atomic.Int64 // rows finished
	doneCh chan struct{}
	gen    uint32
}

type task struct {
	j   *job
	gen uint32
}

var jobs = sync.Pool{New: func() any { return &job{doneCh: make(chan struct{}, 1)} }}

func getJob() *job  { return jobs.Get().(*job) }
func putJob(j *job) { jobs.Put(j) }

// parallelMin is the work (multiply-adds) below which a product runs on the
// calling goroutine: waking a helper costs microseconds, more than a small
// matrix takes. Chosen by BenchmarkMatVecThreshold.
var parallelMin = 1 << 15

var pool struct {
	once sync.Once
	ch   chan task
}

func startPool() {
	n := runtime.GOMAXPROCS(0)
	pool.ch = make(chan task, n)
	for range n {
		go worker()
	}
}

func worker() {
	for t := range pool.ch {
		t.j.work(t.gen, false)
	}
}

// work claims and computes chunks of generation gen until none are left.
// It reports whether this goroutine finished the job's last rows; a helper
// that does so wakes the caller.
func (j *job) work(gen uint32, caller bool) (last bool) {
	for {
		v := j.next.Load()
		if uint32(v>>32) != gen {
			return false // stale task: the job has moved on
		}
		total, chunk := j.total.Load(), j.chunk.Load()
		lo := int64(uint32(v))
		if lo >= total {
			return false
		}
		hi := min(lo+chunk, total)
		if !j.next.CompareAndSwap(v, v+uint64(hi-lo)) {
			continue
		}
		j.rows(int(lo), int(hi))
		if j.done.Add(hi-lo) == total {
			if !caller {
				j.doneCh <- struct{}{}
			}
			return true
		}
	}
}

// run computes all rows of j, in parallel when work is large enough.
func run(j *job, rows, work int) {
	p := runtime.GOMAXPROCS(0)
	if p == 1 || work < parallelMin || rows < 2 {
		j.rows(0, rows)
		return
	}
	pool.once.Do(startPool)
	// About four chunks per core balances load without much contention;
	// chunks are multiples of 4 rows so the multi-row kernels stay aligned.
	chunk := (rows + 4*p - 1) / (4 * p)
	chunk = (chunk + 3) &^ 3
	pieces := (rows + chunk - 1) / chunk
	// First move the counter to the new generation with nothing to claim,
	// so a stale task can no longer claim a chunk; only then change the
	// sizes, and finally open the rows. (Changing the sizes first would let
	// a stale task pair the old counter with the new total.)
	j.gen++
	j.next.Store(uint64(j.gen)<<32 | 0xffffffff)
	j.total.Store(int64(rows))
	j.chunk.Store(int64(chunk))
	j.done.Store(0)
	j.next.Store(uint64(j.gen) << 32)
	for range min(p, pieces) - 1 {
		select {
		case pool.ch <- task{j, j.gen}:
		default: // every worker is busy: the caller does the work
		}
	}
	if !j.work(j.gen, true) {
		<-j.doneCh // a helper is finishing the last claimed chunk
	}
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
