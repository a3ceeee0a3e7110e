package model

import "github.com/runnel/runnel/engine/kernels"

// parallelRows splits [0, rows) across cores when the work (multiply-adds)
// is large enough to pay for it, on the kernels' worker pool (which, unlike
// a fork-join of fresh goroutines, never waits for a helper that a busy
// machine has not yet scheduled). It is for attention; the weight products
// parallelise themselves.
func parallelRows(rows, work int, f func(r0, r1 int)) {
	kernels.Parallel(rows, work, f)
}
