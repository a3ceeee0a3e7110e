package llama2c

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Write writes a legacy checkpoint: the header for c, then w's tensors in
// file order. It is used to build synthetic models for tests and
// benchmarks.
func Write(out io.Writer, c Config, w Weights) error {
	vocab := int32(c.VocabSize)
	if !c.SharedClassifier {
		vocab = -vocab
	}
	bw := bufio.NewWriter(out)
	hdr := []int32{int32(c.Dim), int32(c.HiddenDim), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.SeqLen)}
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return err
	}
	var buf [4]byte
	put := func(ts ...[]float32) {
		for _, t := range ts {
			for _, v := range t {
				binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
				bw.Write(buf[:])
			}
		}
	}
	if len(w.Blocks) != c.Layers {
		return fmt.Errorf("llama2c: %d layers of weights for a %d-layer config", len(w.Blocks), c.Layers)
	}
	put(w.TokenEmbedding)
	for _, get := range []func(Layer) []float32{
		func(l Layer) []float32 { return l.AttnNorm }, func(l Layer) []float32 { return l.WQ },
		func(l Layer) []float32 { return l.WK }, func(l Layer) []float32 { return l.WV },
		func(l Layer) []float32 { return l.WO }, func(l Layer) []float32 { return l.FFNNorm },
		func(l Layer) []float32 { return l.W1 }, func(l Layer) []float32 { return l.W2 },
		func(l Layer) []float32 { return l.W3 },
	} {
		for _, l := range w.Blocks {
			put(get(l))
		}
	}
	put(w.FinalNorm, make([]float32, c.SeqLen*c.HeadSize()))
	if !c.SharedClassifier {
		put(w.Classifier)
	}
	return bw.Flush()
}

// Random returns weights for c with values drawn from next (for example a
// seeded math/rand/v2 source scaled to a small range) and norms of one.
func Random(c Config, next func() float32) Weights {
	dim, hidden, kv := c.Dim, c.HiddenDim, c.KVDim()
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = next()
		}
		return s
	}
	ones := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = 1
		}
		return s
	}
	w := Weights{TokenEmbedding: fill(c.VocabSize * dim), FinalNorm: ones(dim), Blocks: make([]Layer, c.Layers)}
	for i := range w.Blocks {
		w.Blocks[i] = Layer{
			AttnNorm: ones(dim), WQ: fill(dim * dim), WK: fill(kv * dim), WV: fill(kv * dim), WO: fill(dim * dim),
			FFNNorm: ones(dim), W1: fill(hidden * dim), W2: fill(dim * hidden), W3: fill(hidden * dim),
		}
	}
	w.Classifier = w.TokenEmbedding
	if !c.SharedClassifier {
		w.Classifier = fill(c.VocabSize * dim)
	}
	return w
}
