package model

import (
	"os"
	"testing"
	"time"

	"github.com/runnel/runnel/engine/kernels"
)

// BenchmarkShapesStep compares, in one process and ABBA each round (see
// pairedRatesBy), what the tiny8 session changed in the step, each on
// and off: softmax's vector passes (…/softmax, kernels.SetVectorSoftmax:
// attention's scores scaled, their maximum taken and normalised eight at
// a time) in CPU time, and a prompt's rotations and stores spread over
// the pool (…/rope) in wall time, which is what it changes. On
// BenchmarkShapes' files: the 128-token prompt, and decode steps of 8
// sequences and of one. RUNNEL_BENCH_ONLY=softmax (rope) runs one.
//
//	RUNNEL_BENCH_GGUF=/work/ksynth/synth-15M-q4_k_m.gguf go test ./engine/model -run '^$' -bench ShapesStep -cpu 1 -benchtime 8x
func BenchmarkShapesStep(b *testing.B) {
	files, steps := benchFiles(b)
	wall := func() time.Duration { return time.Duration(time.Now().UnixNano()) }
	for _, f := range files {
		m, name := openShapes(b, f)
		for _, c := range []struct {
			name  string
			set   func(on bool) bool
			clock func() time.Duration
			unit  string
		}{{"softmax", kernels.SetVectorSoftmax, nil, "tok/cpu-s"}, {"rope", flagSetter(&parallelRope), wall, "tok/s"}, {"ropecpu", flagSetter(&parallelRope), nil, "tok/cpu-s"}} {
			if only := os.Getenv("RUNNEL_BENCH_ONLY"); only != "" && only != c.name {
				continue
			}
			set, clock, unit := c.set, c.clock, c.unit
			b.Run(name+"/prompt/"+c.name, func(b *testing.B) {
				defer set(set(true))
				prompt := promptRun(b, m)
				// Prompts enough for a few ms each way.
				work := func() {
					for range 8 {
						prompt()
					}
				}
				pairedRatesOf(b, clock, unit, set, work, 8*shapesTokens)
			})
			if c.name == "rope" || c.name == "ropecpu" {
				continue // decode steps rotate in attention's units
			}
			for _, n := range []int{8, 1} {
				b.Run(name+"/decode/n="+string(rune('0'+n))+"/"+c.name, func(b *testing.B) {
					defer set(set(true))
					pairedRatesOf(b, clock, unit, set, decodeRun(b, m, n, steps), n*steps)
				})
			}
		}
		m.Close()
	}
}

// pairedRatesOf is pairedRates, or pairedRatesBy where clock is set.
func pairedRatesOf(b *testing.B, clock func() time.Duration, unit string, set func(on bool) bool, work func(), tokens int) {
	if clock == nil {
		pairedRates(b, set, work, tokens, "off", "on")
		return
	}
	pairedRatesBy(b, clock, unit, set, work, tokens, "off", "on")
}
