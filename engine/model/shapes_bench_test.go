package model

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/engine/synth"
	"github.com/runnel/runnel/internal/cputime"
)

// BenchmarkShapes measures the forward pass alone on GGUF models: a
// 128-token prompt in one step (prompt tok/s), and 128 decode steps of 1
// and of 8 sequences in lockstep (aggregate tok/s). By default it writes
// the 15M shape in Q8_0; RUNNEL_BENCH_GGUF, a space-separated list of
// files (e.g. those of `runnel bench engine --write`), measures those;
// RUNNEL_BENCH_STEPS sets the decode steps (default 128), for the large
// shapes.
//
// tok/cpu-s divides the tokens by the process's CPU time instead of the
// wall time. Run with -cpu 1 (one core: no worker spins), it measures the
// work a token takes even on a machine that other jobs load, where the
// wall-time rate mostly measures the share of the cores the run got.
//
//	go test -run '^$' -bench Shapes -benchtime 3x ./engine/model/
func BenchmarkShapes(b *testing.B) {
	files, steps := benchFiles(b)
	for _, f := range files {
		m, name := openShapes(b, f)
		b.Run(name+"/prompt", func(b *testing.B) {
			prompt := promptRun(b, m)
			cpu := cputime.Process()
			for b.Loop() {
				prompt()
			}
			reportRates(b, b.N*shapesTokens, cpu)
		})
		for _, n := range []int{1, 8} {
			b.Run(name+"/decode/n="+string(rune('0'+n)), func(b *testing.B) {
				decode := decodeRun(b, m, n, steps)
				cpu := cputime.Process()
				for b.Loop() {
					decode()
				}
				reportRates(b, b.N*steps*n, cpu)
			})
		}
		m.Close()
	}
}

// openShapes opens one of BenchmarkShapes' files, its context limited to
// what the benchmarks use, and names it.
func openShapes(b *testing.B, f string) (*Model, string) {
	m, _, err := OpenGGUF(f)
	if err != nil {
		b.Fatal(err)
	}
	m.LimitContext(2 * shapesTokens)
	return m, strings.TrimSuffix(filepath.Base(f), ".gguf")
}

// promptRun returns a function that processes a 128-token prompt from
// the start in one step, with the last token's logits.
func promptRun(b *testing.B, m *Model) func() {
	batch := m.NewBatch(shapesTokens)
	s := m.NewSequence()
	es := make([]Entry, shapesTokens)
	return func() {
		s.Reset()
		for i := range es {
			es[i] = Entry{Seq: s, Token: (i*7 + 1) % m.VocabSize, WantLogits: i == shapesTokens-1}
		}
		if err := batch.Step(es); err != nil {
			b.Fatal(err)
		}
	}
}

// decodeRun returns a function that decodes steps tokens of n sequences
// in lockstep, from their start.
func decodeRun(b *testing.B, m *Model, n, steps int) func() {
	batch := m.NewBatch(n)
	seqs := make([]*Sequence, n)
	for i := range seqs {
		seqs[i] = m.NewSequence()
	}
	es := make([]Entry, n)
	return func() {
		for _, s := range seqs {
			s.Reset()
		}
		for p := 0; p < steps; p++ {
			for i := range es {
				es[i] = Entry{Seq: seqs[i], Token: (p*7 + i) % m.VocabSize, WantLogits: true}
			}
			if err := batch.Step(es); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// shapesTokens is BenchmarkShapes' prompt length and most decode steps.
const shapesTokens = 128

// benchFiles is BenchmarkShapes' files (RUNNEL_BENCH_GGUF, else the 15M
// shape in Q8_0, written to a temporary folder) and decode steps
// (RUNNEL_BENCH_STEPS, else 128).
func benchFiles(b *testing.B) (files []string, steps int) {
	files = strings.Fields(os.Getenv("RUNNEL_BENCH_GGUF"))
	if len(files) == 0 {
		p := filepath.Join(b.TempDir(), "synth-15M-q8_0.gguf")
		if _, err := synth.WriteGGUF(p, synth.Shapes[0], "q8_0", 15); err != nil {
			b.Fatal(err)
		}
		files = []string{p}
	}
	steps = shapesTokens
	if n, err := strconv.Atoi(os.Getenv("RUNNEL_BENCH_STEPS")); err == nil && n > 0 {
		steps = min(n, shapesTokens)
	}
	return files, steps
}

func reportRates(b *testing.B, tokens int, cpu time.Duration) {
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
	if c := cputime.Process() - cpu; c > 0 {
		b.ReportMetric(float64(tokens)/c.Seconds(), "tok/cpu-s")
	}
}
