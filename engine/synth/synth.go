// Package synth writes llama2.c checkpoints with random weights, so the
// engine's benchmarks (and llama2.c's run.c, for comparison) can run models
// of a real model's shape without downloading one.
package synth

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/runnel/runnel/engine/llama2c"
)

// Stories15M is the shape of llama2.c's stories15M model.
var Stories15M = llama2c.Config{
	Dim: 288, HiddenDim: 768, Layers: 6, Heads: 6, KVHeads: 6,
	VocabSize: 32000, SeqLen: 256, SharedClassifier: true,
}

// Seed is the seed the engine benchmarks use.
const Seed = 15

// WriteFile writes a checkpoint of shape c to path, with weights uniform
// in [-0.1, 0.1) from a PCG seeded by (seed, seed) and norms of one.
func WriteFile(path string, c llama2c.Config, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed))
	w := llama2c.Random(c, func() float32 { return (r.Float32() - 0.5) * 0.2 })
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := llama2c.Write(bw, c, w); err != nil {
		f.Close()
		return fmt.Errorf("synth: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
