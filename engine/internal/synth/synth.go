// Package synth writes llama2.c checkpoints with random weights, so the
// engine's benchmarks (and llama2.c's run.c, for comparison) can run models
// of a real model's shape without downloading one.
package synth

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/runnel/runnel/engine/llama2c"
)

// Stories15M is the shape of llama2.c's stories15M model.
var Stories15M = llama2c.Config{
	Dim: 288, HiddenDim: 768, Layers: 6, Heads: 6, KVHeads: 6,
	VocabSize: 32000, SeqLen: 256, SharedClassifier: true,
}

// WriteFile writes a checkpoint of shape c to path, with weights drawn
// from a Gaussian of standard deviation 1/√dim (so activations stay of
// order one through the layers) seeded by seed.
func WriteFile(path string, c llama2c.Config, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	scale := 1 / math.Sqrt(float64(c.Dim))
	w := llama2c.Random(c, func() float32 { return float32(r.NormFloat64() * scale) })
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
