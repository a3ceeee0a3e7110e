package model

import (
	"slices"
	"testing"
	"time"

	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/internal/cputime"
)

// BenchmarkShapesFused compares a step with fused products (queries, keys
// and values in one pool job; gate, up and the activation in one) against
// one job a product (kernels.SetFusedProducts), on BenchmarkShapes' files:
// decoding 1 and 8 sequences. Separate runs on a loaded machine differ by
// more than this does, so each of b.N rounds decodes once per setting in
// ABBA order, and the benchmark reports each setting's median rate on the
// wall clock (what the fusion is for: fewer waits for the pool's helpers)
// and per CPU second, and the median over rounds of the wall-clock ratio
// fused/separate (above 1: fused is faster) and its range. Run with
// -cpu 2.
func BenchmarkShapesFused(b *testing.B) {
	files, steps := benchFiles(b)
	defer kernels.SetFusedProducts(kernels.SetFusedProducts(true))
	for _, f := range files {
		m, name := openShapes(b, f)
		for _, n := range []int{1, 8} {
			b.Run(name+"/decode/n="+string(rune('0'+n)), func(b *testing.B) {
				decode := decodeRun(b, m, n, steps)
				timed := func(on bool) (wall, cpu float64) {
					kernels.SetFusedProducts(on)
					w, c := time.Now(), cputime.Process()
					decode()
					return time.Since(w).Seconds(), (cputime.Process() - c).Seconds()
				}
				tokens := float64(2 * n * steps)
				var sep, fus, sepCPU, fusCPU, ratio []float64
				for b.Loop() {
					s1, sc1 := timed(false)
					f1, fc1 := timed(true)
					f2, fc2 := timed(true)
					s2, sc2 := timed(false)
					sep, fus = append(sep, tokens/(s1+s2)), append(fus, tokens/(f1+f2))
					sepCPU, fusCPU = append(sepCPU, tokens/(sc1+sc2)), append(fusCPU, tokens/(fc1+fc2))
					ratio = append(ratio, (s1+s2)/(f1+f2))
				}
				b.ReportMetric(medianOf(sep), "separate-tok/s")
				b.ReportMetric(medianOf(fus), "fused-tok/s")
				b.ReportMetric(medianOf(sepCPU), "separate-tok/cpu-s")
				b.ReportMetric(medianOf(fusCPU), "fused-tok/cpu-s")
				b.ReportMetric(medianOf(ratio), "fused/separate")
				b.ReportMetric(slices.Min(ratio), "min-fused/separate")
				b.ReportMetric(slices.Max(ratio), "max-fused/separate")
			})
		}
		m.Close()
	}
}
