// Package model runs decoder-only transformers of the llama family
// (RMSNorm, rotary position embeddings, grouped-query attention with a KV
// cache, gated feed-forward) over weights that are views of memory-mapped
// files: llama2.c checkpoints or GGUF files of the architectures in
// arch_*.go, each a small description over this shared forward pass.
//
// One Model is shared by every sequence; each Sequence owns its KV cache.
// Batch.Step advances any number of sequences at once, with one
// matrix-matrix product per weight matrix: it is both the prompt prefill
// (several consecutive tokens of one sequence) and the continuous-batching
// decode step (one token of each of several sequences).
package model

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/engine/llama2c"
)

// Config is a model's shape.
type Config struct {
	Dim       int
	HiddenDim int
	Layers    int
	Heads     int
	KVHeads   int
	VocabSize int
	SeqLen    int     // context length
	NormEps   float32 // RMSNorm epsilon
	RopeTheta float32 // RoPE frequency base
	// HeadDim is the width of each head's query, key and value when it is
	// not Dim / Heads (Gemma, Qwen3, Mistral Nemo); 0 means Dim / Heads.
	HeadDim int
	// RopeDim is how many of each head's values RoPE rotates when not all
	// (Phi-4-mini rotates 3/4); 0 means HeadSize.
	RopeDim int
}

// RotDim is how many values of each head RoPE rotates.
func (c Config) RotDim() int {
	if c.RopeDim > 0 {
		return c.RopeDim
	}
	return c.HeadSize()
}

// HeadSize is the width of one head: HeadDim, or Dim / Heads.
func (c Config) HeadSize() int {
	if c.HeadDim > 0 {
		return c.HeadDim
	}
	return c.Dim / c.Heads
}

// QDim is the width of a query vector (all heads).
func (c Config) QDim() int { return c.Heads * c.HeadSize() }

// KVDim is the width of a key or value vector.
func (c Config) KVDim() int { return c.KVHeads * c.HeadSize() }

func (c Config) validate() error {
	if c.Dim <= 0 || c.HiddenDim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.VocabSize <= 0 || c.SeqLen <= 0 || c.HeadDim < 0 {
		return fmt.Errorf("model: invalid shape %+v", c)
	}
	if (c.HeadDim == 0 && c.Dim%c.Heads != 0) || c.Heads%c.KVHeads != 0 || c.HeadSize()%2 != 0 {
		return fmt.Errorf("model: invalid head layout: dim %d, %d heads of %d, %d kv heads", c.Dim, c.Heads, c.HeadSize(), c.KVHeads)
	}
	if c.RopeDim < 0 || c.RotDim()%2 != 0 || c.RotDim() > c.HeadSize() {
		return fmt.Errorf("model: RoPE over %d of each head's %d values is not possible", c.RotDim(), c.HeadSize())
	}
	return nil
}

// Model is a loaded transformer. It is safe for concurrent use by any
// number of Batches.
type Model struct {
	Config
	// Format is "llama2c" or "gguf".
	Format string
	// Params counts the weights.
	Params int64

	embed  *kernels.Matrix // vocab × dim
	blocks []block
	norm   []float32
	output *kernels.Matrix // vocab × dim

	opts
	ropes  []ropeTable // the rotations blocks use (most models have one)
	closer func() error
}

// opts are the variations of the forward pass that an architecture picks.
// Their zero values give llama2.c's llama.
type opts struct {
	neox          bool       // rotate halves (i, i+hs/2) of each head, not pairs (2i, 2i+1)
	gelu          bool       // GELU (tanh) gating in the feed-forward, not SiLU
	embedScale    float32    // multiplies the embeddings (0: none)
	attnScale     float32    // multiplies q·k (0: 1/√headSize)
	attnSoftcap   float32    // cap·tanh(s/cap) on attention scores (0: none)
	residualScale float32    // multiplies each sub-layer's output before the residual add (0: none)
	logitScale    float32    // divides the logits (0: none)
	finalSoftcap  float32    // cap·tanh(l/cap) on the logits (0: none)
	rope          []ropeSpec // per rotation table: base, scale, factors
}

type block struct {
	// attnNorm and ffnNorm come before their sub-layer, postAttnNorm and
	// postFFNNorm after it (before the residual add); any may be nil.
	attnNorm, ffnNorm, postAttnNorm, postFFNNorm []float32
	// qNorm and kNorm normalise queries and keys before RoPE: per head
	// (headSize values) or over the whole vector (QDim or KVDim values).
	qNorm, kNorm       []float32
	wq, wk, wv, wo     *kernels.Matrix
	bq, bk, bv, bo     []float32       // biases, or nil
	gate, down, upProj *kernels.Matrix // w1, w2, w3 in llama2.c's names
	moe                *moe            // a mixture of experts in place of gate, up and down, or nil
	window             int             // sliding attention window (0: the whole context)
	rope               int             // index into Model.ropes
}

// Close releases the model's mapped file. No Batch may use it afterwards.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	err := m.closer()
	m.closer = nil
	return err
}

// f32Matrix views data as a matrix. Shapes are checked by init.
func f32Matrix(rows, cols int, data []float32) *kernels.Matrix {
	var b []byte
	if len(data) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data))
	}
	return &kernels.Matrix{Type: ggml.F32, Rows: rows, Cols: cols, Data: b, F32: data}
}

// FromLlama2C builds a Model over an open checkpoint's weights. Closing
// the Model closes the checkpoint.
func FromLlama2C(ck *llama2c.Checkpoint) (*Model, error) {
	c := ck.Config
	m := &Model{
		Config: Config{Dim: c.Dim, HiddenDim: c.HiddenDim, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
			VocabSize: c.VocabSize, SeqLen: c.SeqLen, NormEps: 1e-5, RopeTheta: 10000},
		Format: "llama2c",
		Params: c.Params(),
		embed:  f32Matrix(c.VocabSize, c.Dim, ck.TokenEmbedding),
		norm:   ck.FinalNorm,
		output: f32Matrix(c.VocabSize, c.Dim, ck.Classifier),
		closer: ck.Close,
	}
	kv := c.KVDim()
	for _, l := range ck.Blocks {
		m.blocks = append(m.blocks, block{
			attnNorm: l.AttnNorm, ffnNorm: l.FFNNorm,
			wq: f32Matrix(c.Dim, c.Dim, l.WQ), wk: f32Matrix(kv, c.Dim, l.WK),
			wv: f32Matrix(kv, c.Dim, l.WV), wo: f32Matrix(c.Dim, c.Dim, l.WO),
			gate: f32Matrix(c.HiddenDim, c.Dim, l.W1), down: f32Matrix(c.Dim, c.HiddenDim, l.W2),
			upProj: f32Matrix(c.HiddenDim, c.Dim, l.W3),
		})
	}
	if err := m.init(); err != nil {
		return nil, err
	}
	return m, nil
}

// OpenLlama2C opens a llama2.c checkpoint file as a Model.
func OpenLlama2C(path string) (*Model, error) {
	ck, err := llama2c.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := FromLlama2C(ck)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return m, nil
}

// init checks the shapes and computes the RoPE tables.
func (m *Model) init() error {
	if err := m.validate(); err != nil {
		return err
	}
	check := func(name string, mat *kernels.Matrix, rows, cols int) error {
		if mat == nil {
			return fmt.Errorf("model: %s is missing", name)
		}
		if mat.Rows != rows || mat.Cols != cols {
			return fmt.Errorf("model: %s is %d×%d, want %d×%d", name, mat.Rows, mat.Cols, rows, cols)
		}
		if mat.Type == ggml.F32 && len(mat.F32) != rows*cols {
			return fmt.Errorf("model: %s holds %d values, want %d", name, len(mat.F32), rows*cols)
		}
		if rb, err := ggml.RowBytes(mat.Type, cols); err != nil || len(mat.Data) != rows*rb {
			return fmt.Errorf("model: %s: %d bytes of %s do not make %d×%d", name, len(mat.Data), mat.Type, rows, cols)
		}
		return nil
	}
	// vec checks an optional vector: absent, or of one of the sizes.
	vec := func(name string, v []float32, optional bool, sizes ...int) error {
		if v == nil && optional {
			return nil
		}
		if !slices.Contains(sizes, len(v)) {
			return fmt.Errorf("model: %s has %d values, want %d", name, len(v), sizes[0])
		}
		return nil
	}
	d, h, kv, qd, hs := m.Dim, m.HiddenDim, m.KVDim(), m.QDim(), m.HeadSize()
	if len(m.blocks) != m.Layers {
		return fmt.Errorf("model: %d blocks for %d layers", len(m.blocks), m.Layers)
	}
	if len(m.rope) == 0 {
		m.rope = []ropeSpec{{base: m.RopeTheta}}
	}
	errs := []error{check("token embedding", m.embed, m.VocabSize, d), check("output", m.output, m.VocabSize, d),
		vec("output norm", m.norm, false, d)}
	for i, b := range m.blocks {
		p := fmt.Sprintf("block %d ", i)
		errs = append(errs,
			check(p+"attn_q", b.wq, qd, d), check(p+"attn_k", b.wk, kv, d), check(p+"attn_v", b.wv, kv, d),
			check(p+"attn_output", b.wo, d, qd),
			vec(p+"attn_norm", b.attnNorm, true, d), vec(p+"ffn_norm", b.ffnNorm, true, d),
			vec(p+"post_attention_norm", b.postAttnNorm, true, d), vec(p+"post_ffw_norm", b.postFFNNorm, true, d),
			vec(p+"attn_q_norm", b.qNorm, true, hs, qd), vec(p+"attn_k_norm", b.kNorm, true, hs, kv),
			vec(p+"attn_q.bias", b.bq, true, qd), vec(p+"attn_k.bias", b.bk, true, kv),
			vec(p+"attn_v.bias", b.bv, true, kv), vec(p+"attn_output.bias", b.bo, true, d))
		if b.moe != nil {
			errs = append(errs, b.moe.check(p, d, check))
		} else {
			errs = append(errs, check(p+"ffn_gate", b.gate, h, d), check(p+"ffn_down", b.down, d, h), check(p+"ffn_up", b.upProj, h, d))
		}
		if b.window < 0 || b.rope < 0 || b.rope >= len(m.rope) {
			errs = append(errs, fmt.Errorf("model: %shas window %d, rope %d", p, b.window, b.rope))
		}
	}
	for i, r := range m.rope {
		errs = append(errs, vec(fmt.Sprintf("rope %d factors", i), r.factors, true, m.RotDim()/2),
			vec(fmt.Sprintf("rope %d long factors", i), r.long, true, m.RotDim()/2))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.makeRopes()
	return nil
}

// makeRopes computes the rotation tables for the current context length.
func (m *Model) makeRopes() {
	m.ropes = make([]ropeTable, len(m.rope))
	for i, r := range m.rope {
		m.ropes[i] = r.table(m.RotDim(), m.SeqLen)
	}
}

// LimitContext lowers the context length to n, which bounds the memory of
// each Sequence's KV cache (Layers × n × KVDim × 2 float32s, n rounded up
// to a whole tile of keyTile positions). It must be
// called before any Sequence or Batch is made.
func (m *Model) LimitContext(n int) {
	if n > 0 && n < m.SeqLen {
		m.SeqLen = n
		m.makeRopes() // Phi-3's RoPE factors depend on it
	}
}

// Sequence is one generation's state: its KV cache and position.
type Sequence struct {
	pos int
	// key[l] and value[l] hold layer l's cache in tiles of keyTile
	// positions; within a tile each KV head's rows are contiguous
	// (keyTile × headSize, see kvTile). Attention walks one head's keys
	// and values at a time, so each walk is one stream of memory that the
	// prefetchers follow, where rows of all heads (kvDim wide) made it a
	// headSize slice every kvDim floats, three cache lines and a stride
	// that left most of them to miss. They grow a tile at a time as
	// positions fill, so a short generation never pays for the whole
	// context, and keep their capacity across Reset.
	key, value [][]float32
	m          *Model
}

// kvTile returns where tile t of KV head g starts in a layer's cache:
// its keyTile rows of headSize values follow one another from there.
func (m *Model) kvTile(t, g int) int {
	hs := m.HeadSize()
	return t*keyTile*m.KVHeads*hs + g*keyTile*hs
}

// reserve grows layer l's cache by a tile when position p starts one.
// Positions fill in order.
func (s *Sequence) reserve(l, p int) {
	if need := (p/keyTile + 1) * keyTile * s.m.KVDim(); len(s.key[l]) < need {
		s.key[l] = slices.Grow(s.key[l], need-len(s.key[l]))[:need]
		s.value[l] = slices.Grow(s.value[l], need-len(s.value[l]))[:need]
	}
}

// store writes k and v, KV heads g0, g0+1, … as many as they hold, at
// position p of layer l's cache, which reserve has grown to hold p.
func (s *Sequence) store(l, p, g0 int, k, v []float32) {
	m := s.m
	hs := m.HeadSize()
	for g := range len(k) / hs {
		o := m.kvTile(p/keyTile, g0+g) + p%keyTile*hs
		copy(s.key[l][o:o+hs], k[g*hs:(g+1)*hs])
		copy(s.value[l][o:o+hs], v[g*hs:(g+1)*hs])
	}
}

// NewSequence returns a sequence with an empty KV cache.
func (m *Model) NewSequence() *Sequence {
	return &Sequence{key: make([][]float32, m.Layers), value: make([][]float32, m.Layers), m: m}
}

// Pos is the number of tokens the sequence has processed.
func (s *Sequence) Pos() int { return s.pos }

// Reset empties the sequence for reuse, keeping its cache's memory.
func (s *Sequence) Reset() {
	s.pos = 0
	for l := range s.key {
		s.key[l], s.value[l] = s.key[l][:0], s.value[l][:0]
	}
}
