package kernels

import (
	"math/rand/v2"
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
