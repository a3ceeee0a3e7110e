package model

import (
	"fmt"
	"testing"
	"time"

	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/internal/cputime"
)

// BenchmarkShapesDecode1 compares one-stream decode on BenchmarkShapes'
// files and settings through the integer kernels' builds in one process:
// the VNNI build one row at a time (on a VNNI machine, the default), the
// VNNI build with its two-row kernels, and the AVX2 build with its
// two-row kernels (what RUNNEL_NOVNNI=1 runs). Each of b.N rounds decodes once per setting, the
// order rotated per round, each run timed in wall and CPU time; it
// reports each setting's median tokens per second and per CPU second and
// the median per-round wall ratio of each setting to the first. Run it
// with -cpu 2, as decode runs, and compare the ratios, not the rates, on
// a loaded machine.
func BenchmarkShapesDecode1(b *testing.B) {
	files, steps := benchFiles(b)
	vnni, pairs := kernels.SetVNNI(true), kernels.SetRowPairs(false)
	defer func() { kernels.SetVNNI(vnni); kernels.SetRowPairs(pairs) }()
	settings := []struct {
		name        string
		vnni, pairs bool
	}{{"vnni", true, false}, {"vnni-pairs", true, true}, {"avx2", false, true}}
	for _, f := range files {
		m, name := openShapes(b, f)
		b.Run(name+"/decode/n=1", func(b *testing.B) {
			decode := decodeRun(b, m, 1, steps)
			k := len(settings)
			wall, cpu, ratio := make([][]float64, k), make([][]float64, k), make([][]float64, k)
			for round := 0; b.Loop(); round++ {
				w := make([]float64, k)
				for j := range k {
					i := (j + round) % k
					kernels.SetVNNI(settings[i].vnni)
					kernels.SetRowPairs(settings[i].pairs)
					c0, t0 := cputime.Process(), time.Now()
					decode()
					w[i] = time.Since(t0).Seconds()
					wall[i] = append(wall[i], float64(steps)/w[i])
					cpu[i] = append(cpu[i], float64(steps)/(cputime.Process()-c0).Seconds())
				}
				for i := range k {
					ratio[i] = append(ratio[i], w[0]/w[i])
				}
			}
			for i, s := range settings {
				b.ReportMetric(medianOf(wall[i]), s.name+"-tok/s")
				b.ReportMetric(medianOf(cpu[i]), s.name+"-tok/cpu-s")
				if i > 0 {
					b.ReportMetric(medianOf(ratio[i]), fmt.Sprintf("%s/%s", s.name, settings[0].name))
				}
			}
		})
		m.Close()
	}
}
