// Package llama2c reads model checkpoints in the format of Karpathy's
// llama2.c (the "legacy" export: a 7-int32 header followed by float32
// weights). The weights are memory-mapped, not copied.
package llama2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// HeaderSize is the size in bytes of the checkpoint header.
const HeaderSize = 7 * 4

// versionMagic starts the newer llama2.c export formats ("ak42"), which
// this package does not read.
const versionMagic = 0x616b3432

// Config is a checkpoint's hyperparameters.
type Config struct {
	Dim       int // transformer width
	HiddenDim int // FFN width
	Layers    int
	Heads     int // query heads
	KVHeads   int // key/value heads; fewer than Heads means grouped-query attention
	VocabSize int
	SeqLen    int // maximum context length
	// SharedClassifier is true when the output classifier reuses the token
	// embedding table (a positive vocab_size in the header).
	SharedClassifier bool
}

// HeadSize is Dim / Heads.
func (c Config) HeadSize() int { return c.Dim / c.Heads }

// KVDim is the width of the key and value projections.
func (c Config) KVDim() int { return c.Dim * c.KVHeads / c.Heads }

// Limits that keep size arithmetic far from overflow. They are generous:
// llama-2-70B has dim 8192, hidden 28672 and 80 layers.
const (
	maxDim    = 1 << 16
	maxLayers = 1 << 10
	maxVocab  = 1 << 21
	maxSeqLen = 1 << 21
)

// ParseHeader decodes and validates a checkpoint header.
func ParseHeader(b []byte) (Config, error) {
	if len(b) < HeaderSize {
		return Config{}, fmt.Errorf("llama2c: file is %d bytes, shorter than the %d-byte header", len(b), HeaderSize)
	}
	var h [7]int32
	for i := range h {
		h[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	if uint32(h[0]) == versionMagic {
		return Config{}, errors.New("llama2c: this is a versioned llama2.c export (magic \"ak42\"); only the legacy format (export.py --version 0) is supported")
	}
	c := Config{
		Dim: int(h[0]), HiddenDim: int(h[1]), Layers: int(h[2]), Heads: int(h[3]),
		KVHeads: int(h[4]), VocabSize: int(h[5]), SeqLen: int(h[6]),
		SharedClassifier: h[5] > 0,
	}
	if c.VocabSize < 0 {
		c.VocabSize = -c.VocabSize
	}
	check := func(name string, v, max int) error {
		if v <= 0 || v > max {
			return fmt.Errorf("llama2c: corrupt header: %s = %d (want 1..%d)", name, v, max)
		}
		return nil
	}
	for _, f := range []struct {
		name   string
		v, max int
	}{
		{"dim", c.Dim, maxDim}, {"hidden_dim", c.HiddenDim, 4 * maxDim}, {"n_layers", c.Layers, maxLayers},
		{"n_heads", c.Heads, maxDim}, {"n_kv_heads", c.KVHeads, maxDim},
		{"vocab_size", c.VocabSize, maxVocab}, {"seq_len", c.SeqLen, maxSeqLen},
	} {
		if err := check(f.name, f.v, f.max); err != nil {
			return Config{}, err
		}
	}
	if c.Dim%c.Heads != 0 {
		return Config{}, fmt.Errorf("llama2c: corrupt header: dim %d is not a multiple of n_heads %d", c.Dim, c.Heads)
	}
	if c.KVHeads > c.Heads || c.Heads%c.KVHeads != 0 {
		return Config{}, fmt.Errorf("llama2c: corrupt header: n_heads %d is not a multiple of n_kv_heads %d", c.Heads, c.KVHeads)
	}
	if c.HeadSize()%2 != 0 {
		return Config{}, fmt.Errorf("llama2c: corrupt header: head size %d is odd, RoPE needs pairs", c.HeadSize())
	}
	return c, nil
}

// Floats returns the number of float32 values that follow the header.
func (c Config) Floats() int64 {
	dim, hidden, layers := int64(c.Dim), int64(c.HiddenDim), int64(c.Layers)
	kv := int64(c.KVDim())
	n := int64(c.VocabSize) * dim // token embedding
	n += layers * (dim +          // attention norm
		dim*dim + 2*dim*kv + dim*dim + // wq, wk, wv, wo
		dim + // ffn norm
		3*dim*hidden) // w1, w2, w3
	n += dim                                   // final norm
	n += int64(c.SeqLen) * int64(c.HeadSize()) // legacy freq_cis_real + freq_cis_imag
	if !c.SharedClassifier {
		n += int64(c.VocabSize) * dim
	}
	return n
}

// FileSize returns the exact size in bytes of a checkpoint with this config.
func (c Config) FileSize() int64 { return HeaderSize + 4*c.Floats() }

// Params returns the number of model parameters (excluding the unused
// legacy RoPE tables).
func (c Config) Params() int64 {
	return c.Floats() - int64(c.SeqLen)*int64(c.HeadSize())
}

// Layer holds one transformer block's weights, row-major, each a view of
// the mapped file.
type Layer struct {
	AttnNorm []float32 // dim
	WQ       []float32 // dim × dim (out × in)
	WK       []float32 // kvDim × dim
	WV       []float32 // kvDim × dim
	WO       []float32 // dim × dim
	FFNNorm  []float32 // dim
	W1       []float32 // hidden × dim (gate)
	W2       []float32 // dim × hidden (down)
	W3       []float32 // hidden × dim (up)
}

// Weights are a checkpoint's tensors.
type Weights struct {
	TokenEmbedding []float32 // vocab × dim
	Blocks         []Layer
	FinalNorm      []float32 // dim
	Classifier     []float32 // vocab × dim; the embedding table when shared
}

// Slice cuts the weights out of the float32 data after the header. data
// must hold exactly c.Floats() values.
func (c Config) Slice(data []float32) (Weights, error) {
	if int64(len(data)) != c.Floats() {
		return Weights{}, fmt.Errorf("llama2c: have %d weights, config needs %d", len(data), c.Floats())
	}
	dim, hidden, kv, L := c.Dim, c.HiddenDim, c.KVDim(), c.Layers
	take := func(n int) []float32 {
		s := data[:n:n]
		data = data[n:]
		return s
	}
	// The checkpoint stores each kind of tensor for all layers together.
	w := Weights{TokenEmbedding: take(c.VocabSize * dim), Blocks: make([]Layer, L)}
	each := func(n int, set func(l *Layer, s []float32)) {
		for i := range w.Blocks {
			set(&w.Blocks[i], take(n))
		}
	}
	each(dim, func(l *Layer, s []float32) { l.AttnNorm = s })
	each(dim*dim, func(l *Layer, s []float32) { l.WQ = s })
	each(kv*dim, func(l *Layer, s []float32) { l.WK = s })
	each(kv*dim, func(l *Layer, s []float32) { l.WV = s })
	each(dim*dim, func(l *Layer, s []float32) { l.WO = s })
	each(dim, func(l *Layer, s []float32) { l.FFNNorm = s })
	each(hidden*dim, func(l *Layer, s []float32) { l.W1 = s })
	each(dim*hidden, func(l *Layer, s []float32) { l.W2 = s })
	each(hidden*dim, func(l *Layer, s []float32) { l.W3 = s })
	w.FinalNorm = take(dim)
	take(c.SeqLen * c.HeadSize()) // freq_cis_real and freq_cis_imag, unused since RoPE is computed
	if c.SharedClassifier {
		w.Classifier = w.TokenEmbedding
	} else {
		w.Classifier = take(c.VocabSize * dim)
	}
	for _, l := range w.Blocks {
		for _, t := range [][]float32{l.AttnNorm, l.FFNNorm} {
			if err := finite(t); err != nil {
				return Weights{}, err
			}
		}
	}
	return w, finite(w.FinalNorm)
}

// finite spot-checks a small tensor, which catches most files that are
// not checkpoints at all without reading every weight.
func finite(t []float32) error {
	for _, v := range t {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return errors.New("llama2c: corrupt weights: a norm tensor holds NaN or Inf")
		}
	}
	return nil
}
