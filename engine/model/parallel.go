package model

import (
	"runtime"
	"sync"
)

// parallelRows splits [0, rows) across cores when the work (multiply-adds)
// is large enough to pay for the goroutines. The weight products have
// their own pool in package kernels; this is for attention.
func parallelRows(rows, work int, f func(r0, r1 int)) {
	threads := runtime.GOMAXPROCS(0)
	if threads == 1 || work < 1<<15 || rows < 2 {
		f(0, rows)
		return
	}
	threads = min(threads, rows)
	var wg sync.WaitGroup
	chunk := (rows + threads - 1) / threads
	for r := chunk; r < rows; r += chunk {
		wg.Add(1)
		go func(r0 int) {
			defer wg.Done()
			f(r0, min(r0+chunk, rows))
		}(r)
	}
	f(0, min(chunk, rows))
	wg.Wait()
}
