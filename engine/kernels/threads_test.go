package kernels

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
)

// TestSetThreads runs in a process of its own (the pool is sized once per
// process): a cap set before the first product sizes the pool, products
// stay right, and a different cap afterwards is refused.
func TestSetThreads(t *testing.T) {
	if os.Getenv("RUNNEL_TEST_SET_THREADS") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSetThreads$", "-test.v")
		cmd.Env = append(os.Environ(), "RUNNEL_TEST_SET_THREADS=1", "GOMAXPROCS=4")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	if pool.started.Load() {
		t.Fatal("the pool started before the test")
	}
	if !SetThreads(2) {
		t.Fatal("SetThreads(2) refused before the first product")
	}
	r := rand.New(rand.NewPCG(5, 6))
	m := randMatrix(r, allTypes[0], 512, 256) // above parallelMin: runs on the pool
	x := randVec(r, 256, 1)
	dst := make([]float32, 512)
	MatVec(dst, m, x)
	checkProduct(t, m, x, dst, 1)
	if pool.workers != 1 {
		t.Fatalf("%d pool workers with 2 threads on GOMAXPROCS=4, want 1", pool.workers)
	}
	if SetThreads(3) {
		t.Fatal("SetThreads(3) accepted after the pool started with 2")
	}
	if !SetThreads(2) {
		t.Fatal("SetThreads(2) refused although it is the pool's size")
	}
}
