package model

import (
	"fmt"
	"testing"
)

// BenchmarkDecode decodes 200 positions for n sequences in lockstep with
// batched steps on stories260K: the model alone, without the scheduler.
func BenchmarkDecode(b *testing.B) {
	m := openStories(b)
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("stories260K/n=%d", n), func(b *testing.B) {
			batch := m.NewBatch(n)
			seqs := make([]*Sequence, n)
			for i := range seqs {
				seqs[i] = m.NewSequence()
			}
			es := make([]Entry, n)
			const steps = 200
			for b.Loop() {
				for _, s := range seqs {
					s.Reset()
				}
				for p := 0; p < steps; p++ {
					for i := range es {
						es[i] = Entry{Seq: seqs[i], Token: (p*7 + i) % 512, WantLogits: true}
					}
					if err := batch.Step(es); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*steps*n)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
