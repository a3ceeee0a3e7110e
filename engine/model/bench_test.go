package model

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/llama2c"
)

// BenchmarkDecode decodes 200 positions for n sequences in lockstep with
// batched steps, on stories260K and on random weights of stories15M's
// shape: the model alone, without the scheduler.
func BenchmarkDecode(b *testing.B) {
	c := llama2c.Config{Dim: 288, HiddenDim: 768, Layers: 6, Heads: 6, KVHeads: 6, VocabSize: 32000, SeqLen: 256, SharedClassifier: true}
	r := rand.New(rand.NewPCG(15, 15))
	syn, err := FromLlama2C(&llama2c.Checkpoint{Config: c, Weights: llama2c.Random(c, func() float32 { return (r.Float32() - 0.5) * 0.2 })})
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		m    *Model
	}{{"stories260K", openStories(b)}, {"synthetic15M", syn}} {
		for _, n := range []int{1, 8} {
			benchDecode(b, bm.name, bm.m, n)
		}
	}
}

func benchDecode(b *testing.B, name string, m *Model, n int) {
	{
		b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
			const steps = 200
			decode := decodeRun(b, m, n, steps)
			for b.Loop() {
				decode()
			}
			b.ReportMetric(float64(b.N*steps*n)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
