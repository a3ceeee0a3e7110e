package model

import (
	"fmt"
	"os"
	"testing"

	"github.com/runnel/runnel/engine/kernels"
)

// BenchmarkShapesAttention compares, in one process and ABBA each round
// (see pairedRates), a decode step's attention with and without what the
// agg8 session added: prefetching the next unit's keys and values
// (BenchmarkShapesAttention/prefetch), and each unit rotating and storing
// its own heads instead of the caller doing all of them before the job
// (…/rotate), and fused products' shrinking chunks (…/guided,
// kernels.SetGuidedFused). 8 sequences in lockstep, and one, on
// BenchmarkShapes' files; run with -cpu 2, where they matter.
// RUNNEL_BENCH_ONLY=prefetch (rotate, guided) runs one of them.
func BenchmarkShapesAttention(b *testing.B) {
	files, steps := benchFiles(b)
	for _, f := range files {
		m, name := openShapes(b, f)
		for _, c := range []struct {
			name string
			set  func(on bool) bool
		}{{"prefetch", flagSetter(&prefetchUnits)}, {"rotate", flagSetter(&unitsRotate)}, {"guided", kernels.SetGuidedFused}} {
			if os.Getenv("RUNNEL_BENCH_ONLY") != "" && os.Getenv("RUNNEL_BENCH_ONLY") != c.name {
				continue
			}
			set := c.set
			for _, n := range []int{8, 1} {
				b.Run(fmt.Sprintf("%s/decode/n=%d/%s", name, n, c.name), func(b *testing.B) {
					defer set(set(true))
					pairedRates(b, set, decodeRun(b, m, n, steps), n*steps, "off", "on")
				})
			}
		}
		m.Close()
	}
}

func flagSetter(f *bool) func(on bool) bool {
	return func(on bool) bool { was := *f; *f = on; return was }
}
