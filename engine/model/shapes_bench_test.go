package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/synth"
)

// BenchmarkShapes measures the forward pass alone on GGUF models: a
// 128-token prompt in one step (prompt tok/s), and 128 decode steps of 1
// and of 8 sequences in lockstep (aggregate tok/s). By default it writes
// the 15M shape in Q8_0; RUNNEL_BENCH_GGUF, a space-separated list of
// files (e.g. those of `runnel bench engine --write`), measures those.
//
//	go test -run '^$' -bench Shapes -benchtime 3x ./engine/model/
func BenchmarkShapes(b *testing.B) {
	files := strings.Fields(os.Getenv("RUNNEL_BENCH_GGUF"))
	if len(files) == 0 {
		p := filepath.Join(b.TempDir(), "synth-15M-q8_0.gguf")
		if _, err := synth.WriteGGUF(p, synth.Shapes[0], "q8_0", 15); err != nil {
			b.Fatal(err)
		}
		files = []string{p}
	}
	const tokens = 128
	for _, f := range files {
		m, _, err := OpenGGUF(f)
		if err != nil {
			b.Fatal(err)
		}
		m.LimitContext(2 * tokens)
		name := strings.TrimSuffix(filepath.Base(f), ".gguf")
		b.Run(name+"/prompt", func(b *testing.B) {
			batch := m.NewBatch(tokens)
			s := m.NewSequence()
			es := make([]Entry, tokens)
			for b.Loop() {
				s.Reset()
				for i := range es {
					es[i] = Entry{Seq: s, Token: (i*7 + 1) % m.VocabSize, WantLogits: i == tokens-1}
				}
				if err := batch.Step(es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*tokens)/b.Elapsed().Seconds(), "tok/s")
		})
		for _, n := range []int{1, 8} {
			b.Run(name+"/decode/n="+string(rune('0'+n)), func(b *testing.B) {
				batch := m.NewBatch(n)
				seqs := make([]*Sequence, n)
				for i := range seqs {
					seqs[i] = m.NewSequence()
				}
				es := make([]Entry, n)
				for b.Loop() {
					for _, s := range seqs {
						s.Reset()
					}
					for p := 0; p < tokens; p++ {
						for i := range es {
							es[i] = Entry{Seq: seqs[i], Token: (p*7 + i) % m.VocabSize, WantLogits: true}
						}
						if err := batch.Step(es); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N*tokens*n)/b.Elapsed().Seconds(), "tok/s")
			})
		}
		m.Close()
	}
}
