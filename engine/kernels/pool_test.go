package kernels

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestPoolIdle: an unheld pool's workers park as soon as the board is
// empty, without spinning; a held pool's workers do not park between
// products (within spinFor, here made an hour so that the test does not
// depend on timing), and park once it is released.
func TestPoolIdle(t *testing.T) {
	if threadCount() < 2 {
		t.Skip("one core: no pool")
	}
	r := rand.New(rand.NewPCG(21, 22))
	m := randMatrix(r, allTypes[0], 512, 256) // above parallelMin
	x := randVec(r, 256, 1)
	dst := make([]float32, 512)
	product := func() {
		MatVec(dst, m, x)
		checkProduct(t, m, x, dst, 1)
	}
	product()
	allParked := func() bool { return pool.parked.Load() == int32(pool.workers) }

	spins := pool.spins.Load()
	for range 20 {
		product()
		waitFor(t, "every worker parked", allParked)
	}
	if n := pool.spins.Load() - spins; n != 0 {
		t.Fatalf("unheld workers spun %d pauses on an empty board", n)
	}

	old := spinFor.Load()
	spinFor.Store(int64(time.Hour))
	defer spinFor.Store(old)
	var h Hold
	h.Acquire()
	waitFor(t, "every worker awake", func() bool { return pool.parked.Load() == 0 })
	parks := pool.parks.Load()
	for range 50 {
		product()
	}
	if n := pool.parks.Load() - parks; n != 0 {
		t.Fatalf("held workers parked %d times between products", n)
	}
	h.Release()
	waitFor(t, "every worker parked after Release", allParked)
	if pool.holds.Load() != 0 {
		t.Fatalf("%d holds left", pool.holds.Load())
	}
}

// TestParallelChunksShrink: Parallel's units (attention's, at 8 streams
// 48 a 15M layer) are handed out in chunks that shrink as the units run
// out, down to one, so the cores finish within one unit of each other;
// the chunks cover every unit once, whoever claims them. A fixed chunk
// (six units there) left a core idle for up to six units a layer.
func TestParallelChunksShrink(t *testing.T) {
	if threadCount() < 2 {
		t.Skip("one core: no pool")
	}
	for _, n := range []int{2, 7, 48, 200} {
		var mu sync.Mutex
		seen := make([]int, n)
		var chunks [][2]int
		Parallel(n, parallelMin*n, func(lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			chunks = append(chunks, [2]int{lo, hi})
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: unit %d computed %d times", n, i, c)
			}
		}
		p := pool.workers + 1
		for _, c := range chunks {
			if c[1]-c[0] > (n+4*p-1)/(4*p) {
				t.Fatalf("n=%d: chunk %v larger than a quarter of a core's share", n, c)
			}
			if c[1] == n && c[1]-c[0] != 1 {
				t.Fatalf("n=%d: last chunk %v, want one unit", n, c)
			}
		}
	}
}
