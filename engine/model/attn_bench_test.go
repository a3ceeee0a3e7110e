package model

import "testing"

// BenchmarkShapesAttention compares, in one process and ABBA each round
// (see pairedRates), a decode step's attention with and without what the
// agg8 session added: prefetching the next unit's keys and values
// (BenchmarkShapesAttention/prefetch), and each unit rotating and storing
// its own heads instead of the caller doing all of them before the job
// (…/rotate). 8 sequences in lockstep on BenchmarkShapes' files; run with
// -cpu 2, where both matter.
func BenchmarkShapesAttention(b *testing.B) {
	files, steps := benchFiles(b)
	for _, f := range files {
		m, name := openShapes(b, f)
		for _, c := range []struct {
			name string
			flag *bool
		}{{"prefetch", &prefetchUnits}, {"rotate", &unitsRotate}} {
			set := func(on bool) bool { was := *c.flag; *c.flag = on; return was }
			b.Run(name+"/decode/n=8/"+c.name, func(b *testing.B) {
				defer set(set(true))
				pairedRates(b, set, decodeRun(b, m, 8, steps), 8*steps, "off", "on")
			})
		}
		m.Close()
	}
}
