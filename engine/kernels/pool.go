package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A job is one MatMul call. Its rows are handed out in chunks through an
// atomic counter, so whichever goroutines are running take the work: on a
// shared, noisy machine a descheduled helper costs its share, not a barrier
// stall. The calling goroutine always works too, so a saturated pool degrades
// to inline execution instead of queueing.
type job struct {
	m      *Matrix
	dst, x []float32
	n      int
	xq     qvec

	next  atomic.Int64
	total int64
	chunk int64
	wg    sync.WaitGroup
}

var jobs = sync.Pool{New: func() any { return new(job) }}

func getJob() *job  { return jobs.Get().(*job) }
func putJob(j *job) { jobs.Put(j) }

// parallelMin is the work (multiply-adds) below which a product runs on the
// calling goroutine: waking a helper costs a few microseconds, more than a
// small matrix takes. Chosen by BenchmarkMatVecThreshold.
var parallelMin = 1 << 15

var pool struct {
	once sync.Once
	ch   chan *job
}

func startPool() {
	n := runtime.GOMAXPROCS(0)
	pool.ch = make(chan *job, n)
	for range n {
		go worker()
	}
}

func worker() {
	for j := range pool.ch {
		j.work()
		j.wg.Done()
	}
}

func (j *job) work() {
	for {
		lo := j.next.Add(j.chunk) - j.chunk
		if lo >= j.total {
			return
		}
		j.rows(int(lo), int(min(lo+j.chunk, j.total)))
	}
}

// run computes all rows of j, in parallel when work is large enough.
func run(j *job, rows, work int) {
	p := runtime.GOMAXPROCS(0)
	if p == 1 || work < parallelMin || rows < 8 {
		j.rows(0, rows)
		return
	}
	pool.once.Do(startPool)
	// About four chunks per core balances load without much contention;
	// chunks are multiples of 4 rows so the multi-row kernels stay aligned.
	chunk := (rows + 4*p - 1) / (4 * p)
	chunk = (chunk + 3) &^ 3
	pieces := (rows + chunk - 1) / chunk
	j.total, j.chunk = int64(rows), int64(chunk)
	j.next.Store(0)
	helpers := min(p, pieces) - 1
	j.wg.Add(helpers)
	for range helpers {
		select {
		case pool.ch <- j:
		default: // pool busy with other callers: do the work here
			j.wg.Done()
		}
	}
	j.work()
	j.wg.Wait()
}
