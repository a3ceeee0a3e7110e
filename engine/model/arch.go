package model

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/kernels"
)

// An Arch describes one GGUF architecture (general.architecture) as the
// ways its blocks differ from llama's. Every architecture uses llama.cpp's
// tensor names (token_embd, blk.N.attn_q, …, output_norm, output) and reads
// its hyperparameters under "ARCH.*". The common ones (embedding_length,
// feed_forward_length, block_count, attention.head_count[_kv],
// attention.key_length, context_length, attention.layer_norm_rms_epsilon,
// rope.freq_base, rope.scaling.*) are read for all; Setup reads the rest.
type Arch struct {
	// Neox rotates the halves (i, i+headSize/2) of each head, as
	// Hugging Face's checkpoints do; otherwise adjacent pairs (2i, 2i+1),
	// the layout llama.cpp's converter gives llama files.
	Neox bool
	// Norms says where each block's RMSNorms are.
	Norms Norms
	// QKNorm: attn_q_norm and attn_k_norm normalise queries and keys
	// before RoPE, per head or over the whole vector, by their size.
	QKNorm bool
	// QKVBias: attn_q, attn_k and attn_v must have biases. Biases that
	// an architecture does not require are still applied when present.
	QKVBias bool
	// FusedQKV: attn_qkv may hold the q, k and v rows stacked, in place
	// of attn_q, attn_k and attn_v.
	FusedQKV bool
	// FusedUp: ffn_up holds the gate rows then the up rows, and there is
	// no ffn_gate.
	FusedUp bool
	// GELU gates the feed-forward with GELU instead of SiLU.
	GELU bool
	// MoE: the feed-forward is a mixture of experts (ffn_gate_inp and the
	// 3-D ffn_gate_exps, ffn_up_exps, ffn_down_exps; keys expert_count,
	// expert_used_count, expert_feed_forward_length), with the chosen
	// experts' weights renormalised to sum to one when NormTopK.
	MoE, NormTopK bool
	// Setup reads the architecture's own hyperparameters and sets the
	// forward pass's options and per-block settings (windows, RoPE tables).
	Setup func(l *Loader) error
}

// Norms is where a block's RMSNorms sit.
type Norms int

const (
	// PreNorm: attn_norm and ffn_norm before each sub-layer (llama).
	PreNorm Norms = iota
	// PostNorm: post_attention_norm and post_ffw_norm after each
	// sub-layer, before the residual add, and none before (OLMo 2).
	PostNorm
	// SandwichNorm: both (Gemma 2 and 3).
	SandwichNorm
)

var archs = map[string]*Arch{}

// register adds an architecture; the arch_*.go files register them.
func register(name string, a *Arch) { archs[name] = a }

// Architectures lists the supported general.architecture values.
func Architectures() []string { return slices.Sorted(maps.Keys(archs)) }

// A Loader builds a Model from a GGUF file for an Arch. Its methods record
// the first error and make the later calls no-ops, so an architecture's
// Setup reads as a list of what it needs.
type Loader struct {
	f    *gguf.File
	Arch string
	M    *Model
	err  error
}

func (l *Loader) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// Int reads the hyperparameter ARCH.key; def is used when it is absent,
// unless def < 0, which makes it required. Values must be in (0, 2^24].
func (l *Loader) Int(key string, def int64) int {
	if l.err != nil {
		return 0
	}
	full := l.Arch + "." + key
	v, err := l.f.Int64(full)
	if errors.Is(err, gguf.ErrNotFound) && def >= 0 {
		return int(def)
	}
	if err != nil {
		l.fail(fmt.Errorf("model: %w", err))
		return 0
	}
	if v <= 0 || v > 1<<24 {
		l.fail(fmt.Errorf("model: %s = %d is out of range", full, v))
		return 0
	}
	return int(v)
}

// Float reads the hyperparameter ARCH.key, or def when it is absent. It
// must be finite.
func (l *Loader) Float(key string, def float32) float32 {
	if l.err != nil {
		return 0
	}
	full := l.Arch + "." + key
	v, err := l.f.Float32(full)
	if errors.Is(err, gguf.ErrNotFound) {
		return def
	}
	if err != nil {
		l.fail(fmt.Errorf("model: %w", err))
		return 0
	}
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		l.fail(fmt.Errorf("model: %s = %v is not a finite number", full, v))
		return 0
	}
	return v
}

// MustFloat reads the hyperparameter ARCH.key, which must be present.
func (l *Loader) MustFloat(key string) float32 {
	if l.err == nil && !l.Has(key) {
		l.fail(fmt.Errorf("model: %s.%s: %w", l.Arch, key, gguf.ErrNotFound))
	}
	return l.Float(key, 0)
}

// Has reports whether the hyperparameter ARCH.key is present.
func (l *Loader) Has(key string) bool { return l.f.Has(l.Arch + "." + key) }

// Matrix returns the rows×cols tensor name (ggml dims [cols, rows]);
// absent, it is an error unless optional, when it returns nil.
func (l *Loader) Matrix(name string, rows, cols int, optional bool) *kernels.Matrix {
	t, ok := l.tensor(name, optional)
	if !ok {
		return nil
	}
	if len(t.Dims) != 2 || t.Dims[0] != uint64(cols) || t.Dims[1] != uint64(rows) {
		l.fail(fmt.Errorf("model: tensor %s has shape %v, want [%d %d]", name, t.Dims, cols, rows))
		return nil
	}
	m, err := kernels.NewMatrix(t.Type, rows, cols, t.Data)
	if err != nil {
		l.fail(fmt.Errorf("model: tensor %s: %w", name, err))
		return nil
	}
	return m
}

// Vector returns the 1-D tensor name as float32s (a view of aligned F32
// data, else a dequantized copy), which must have one of the sizes;
// absent, it is an error unless optional, when it returns nil.
func (l *Loader) Vector(name string, optional bool, sizes ...int) []float32 {
	t, ok := l.tensor(name, optional)
	if !ok {
		return nil
	}
	if len(t.Dims) != 1 || !slices.Contains(sizes, int(min(t.Dims[0], 1<<31))) {
		l.fail(fmt.Errorf("model: tensor %s has shape %v, want [%d]", name, t.Dims, sizes[0]))
		return nil
	}
	v, err := vector(t)
	if err != nil {
		l.fail(fmt.Errorf("model: tensor %s: %w", name, err))
	}
	return v
}

func (l *Loader) tensor(name string, optional bool) (gguf.Tensor, bool) {
	if l.err != nil {
		return gguf.Tensor{}, false
	}
	t, err := l.f.Tensor(name)
	if errors.Is(err, gguf.ErrNotFound) && optional {
		return gguf.Tensor{}, false
	}
	if err != nil {
		l.fail(fmt.Errorf("model: %w", err))
		return gguf.Tensor{}, false
	}
	if !kernels.Supported(t.Type) {
		l.fail(fmt.Errorf("model: tensor %s has type %s, which the engine does not support", name, t.Type))
		return gguf.Tensor{}, false
	}
	return t, true
}

// SlidingWindow gives the layers for which sliding(layer) holds an
// attention window of w positions.
func (l *Loader) SlidingWindow(w int, sliding func(layer int) bool) {
	for i := range l.M.blocks {
		if sliding(i) {
			l.M.blocks[i].window = w
		}
	}
}

// load reads what every architecture shares: the shape, RoPE, embeddings,
// output, and each block's tensors as a describes them.
func (l *Loader) load(a *Arch) {
	m := l.M
	c := Config{
		Dim: l.Int("embedding_length", -1), HiddenDim: l.Int("feed_forward_length", -1),
		Layers: l.Int("block_count", -1), Heads: l.Int("attention.head_count", -1),
		SeqLen:    l.Int("context_length", -1),
		NormEps:   l.Float("attention.layer_norm_rms_epsilon", 1e-5),
		RopeTheta: l.Float("rope.freq_base", 10000),
	}
	c.KVHeads = l.Int("attention.head_count_kv", int64(c.Heads))
	if l.Has("attention.key_length") {
		c.HeadDim = l.Int("attention.key_length", -1)
		if v := l.Int("attention.value_length", int64(c.HeadDim)); v != c.HeadDim && l.err == nil {
			l.fail(fmt.Errorf("model: %s.attention.value_length %d differs from key_length %d, which is not supported", l.Arch, v, c.HeadDim))
		}
	}
	if l.err != nil {
		return
	}
	if c.Heads > 0 && (c.HeadDim > 0 || c.Dim%c.Heads == 0) {
		if rd := l.Int("rope.dimension_count", int64(c.HeadSize())); rd != c.HeadSize() {
			c.RopeDim = rd // partial RoPE; validate checks it fits
		}
	}
	rs := ropeSpec{base: c.RopeTheta}
	if typ, err := l.f.String(l.Arch + ".rope.scaling.type"); err != nil && !errors.Is(err, gguf.ErrNotFound) {
		l.fail(fmt.Errorf("model: %w", err))
	} else if err == nil {
		switch typ {
		case "none", "longrope": // longrope: the factor tensors below
		case "linear":
			if f := l.Float("rope.scaling.factor", 1); f > 0 {
				rs.scale = 1 / f
			} else if l.err == nil {
				l.fail(fmt.Errorf("model: %s.rope.scaling.factor = %v is not positive", l.Arch, f))
			}
		default:
			l.fail(fmt.Errorf("model: RoPE scaling %q is not supported (only linear and longrope)", typ))
		}
	}
	rs.mscale = l.Float("rope.scaling.attn_factor", 0)
	rs.origCtx = l.Int("rope.scaling.original_context_length", int64(c.SeqLen))
	if l.err != nil {
		return
	}
	// The vocabulary's size is the embedding's row count.
	if t, ok := l.tensor("token_embd.weight", false); ok {
		if len(t.Dims) != 2 || t.Dims[1] == 0 || t.Dims[1] > 1<<24 {
			l.fail(fmt.Errorf("model: tensor token_embd.weight has shape %v, want [%d vocab]", t.Dims, c.Dim))
			return
		}
		c.VocabSize = int(t.Dims[1])
	}
	if l.err != nil {
		return
	}
	if err := c.validate(); err != nil {
		l.fail(err)
		return
	}
	m.Config = c
	d, h, kv, qd, hs := c.Dim, c.HiddenDim, c.KVDim(), c.QDim(), c.HeadSize()
	m.embed = l.Matrix("token_embd.weight", c.VocabSize, d, false)
	if m.output = l.Matrix("output.weight", c.VocabSize, d, true); m.output == nil {
		m.output = m.embed // tied embeddings
	}
	m.norm = l.Vector("output_norm.weight", false, d)
	// Llama 3.1/3.2 divide each pair's frequency by a factor (rope_freqs);
	// Phi-3's long-context files by one of two sets, chosen by the context.
	rd := c.RotDim() / 2
	if rs.factors = l.Vector("rope_freqs.weight", true, rd); rs.factors == nil {
		rs.factors = l.Vector("rope_factors_short.weight", true, rd)
		rs.long = l.Vector("rope_factors_long.weight", true, rd)
	}
	m.rope = []ropeSpec{rs}
	m.neox, m.gelu = a.Neox, a.GELU
	for i := 0; i < c.Layers && l.err == nil; i++ {
		var b block
		p := fmt.Sprintf("blk.%d.", i)
		var qkv *kernels.Matrix
		if a.FusedQKV {
			qkv = l.Matrix(p+"attn_qkv.weight", qd+2*kv, d, true)
		}
		if qkv != nil {
			b.wq, b.wk, b.wv = l.rows(qkv, 0, qd), l.rows(qkv, qd, qd+kv), l.rows(qkv, qd+kv, qd+2*kv)
		} else {
			b.wq = l.Matrix(p+"attn_q.weight", qd, d, false)
			b.wk = l.Matrix(p+"attn_k.weight", kv, d, false)
			b.wv = l.Matrix(p+"attn_v.weight", kv, d, false)
		}
		b.wo = l.Matrix(p+"attn_output.weight", d, qd, false)
		b.bq = l.Vector(p+"attn_q.bias", !a.QKVBias, qd)
		b.bk = l.Vector(p+"attn_k.bias", !a.QKVBias, kv)
		b.bv = l.Vector(p+"attn_v.bias", !a.QKVBias, kv)
		b.bo = l.Vector(p+"attn_output.bias", true, d)
		if a.QKNorm {
			b.qNorm = l.Vector(p+"attn_q_norm.weight", false, hs, qd)
			b.kNorm = l.Vector(p+"attn_k_norm.weight", false, hs, kv)
		}
		switch {
		case a.MoE:
			b.moe = l.experts(p, a.NormTopK)
		case a.FusedUp:
			if up := l.Matrix(p+"ffn_up.weight", 2*h, d, false); up != nil {
				b.gate, b.upProj = l.rows(up, 0, h), l.rows(up, h, 2*h)
			}
		default:
			b.gate = l.Matrix(p+"ffn_gate.weight", h, d, false)
			b.upProj = l.Matrix(p+"ffn_up.weight", h, d, false)
		}
		if !a.MoE {
			b.down = l.Matrix(p+"ffn_down.weight", d, h, false)
		}
		if a.Norms != PostNorm {
			b.attnNorm = l.Vector(p+"attn_norm.weight", false, d)
			b.ffnNorm = l.Vector(p+"ffn_norm.weight", false, d)
		}
		if a.Norms != PreNorm {
			b.postAttnNorm = l.Vector(p+"post_attention_norm.weight", false, d)
			b.postFFNNorm = l.Vector(p+"post_ffw_norm.weight", false, d)
		}
		m.blocks = append(m.blocks, b)
	}
}

// experts reads block p's mixture of experts.
func (l *Loader) experts(p string, norm bool) *moe {
	m := l.M
	E, used := l.Int("expert_count", -1), l.Int("expert_used_count", -1)
	if l.err != nil {
		return nil
	}
	if used > E || E > 1<<12 {
		l.fail(fmt.Errorf("model: %s.expert_used_count %d of expert_count %d is not possible", l.Arch, used, E))
		return nil
	}
	// OLMoE's experts are feed_forward_length wide; Qwen3-MoE files say
	// expert_feed_forward_length.
	ff := l.Int("expert_feed_forward_length", int64(m.HiddenDim))
	d := m.Dim
	mo := &moe{used: used, ff: ff, normalizeWeights: norm, router: l.Matrix(p+"ffn_gate_inp.weight", E, d, false)}
	mo.gate = l.stacked(p+"ffn_gate_exps.weight", E, ff, d)
	mo.up = l.stacked(p+"ffn_up_exps.weight", E, ff, d)
	mo.down = l.stacked(p+"ffn_down_exps.weight", E, d, ff)
	return mo
}

// stacked returns the n rows×cols matrices of the 3-D tensor name (ggml
// dims [cols, rows, n]), one per expert.
func (l *Loader) stacked(name string, n, rows, cols int) []*kernels.Matrix {
	t, ok := l.tensor(name, false)
	if !ok {
		return nil
	}
	if len(t.Dims) != 3 || t.Dims[0] != uint64(cols) || t.Dims[1] != uint64(rows) || t.Dims[2] != uint64(n) {
		l.fail(fmt.Errorf("model: tensor %s has shape %v, want [%d %d %d]", name, t.Dims, cols, rows, n))
		return nil
	}
	all, err := kernels.NewMatrix(t.Type, n*rows, cols, t.Data)
	if err != nil {
		l.fail(fmt.Errorf("model: tensor %s: %w", name, err))
		return nil
	}
	out := make([]*kernels.Matrix, n)
	for e := range out {
		out[e] = l.rows(all, e*rows, (e+1)*rows)
	}
	return out
}

// rows views rows [r0, r1) of m, for tensors that stack several
// matrices (attn_qkv, Phi-3's ffn_up).
func (l *Loader) rows(m *kernels.Matrix, r0, r1 int) *kernels.Matrix {
	rb, err := ggml.RowBytes(m.Type, m.Cols)
	if err == nil {
		var s *kernels.Matrix
		if s, err = kernels.NewMatrix(m.Type, r1-r0, m.Cols, m.Data[r0*rb:r1*rb]); err == nil {
			return s
		}
	}
	l.fail(fmt.Errorf("model: splitting a fused tensor: %w", err))
	return nil
}

// FromGGUF builds a Model over an open GGUF file's tensors.
func FromGGUF(f *gguf.File) (*Model, error) {
	name, err := f.String("general.architecture")
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	a := archs[name]
	if a == nil {
		return nil, fmt.Errorf("model: architecture %q is not supported (supported: %s)", name, strings.Join(Architectures(), ", "))
	}
	l := &Loader{f: f, Arch: name, M: &Model{Format: "gguf", closer: f.Close}}
	l.load(a)
	if l.err == nil && a.Setup != nil {
		l.fail(a.Setup(l))
	}
	if l.err != nil {
		return nil, l.err
	}
	m := l.M
	for _, t := range f.Tensors {
		m.Params += int64(t.Elems())
	}
	if err := m.init(); err != nil {
		return nil, err
	}
	return m, nil
}

// requirePositive reports the first of the named hyperparameters that is
// not positive (a loader error, if any, first).
func requirePositive(l *Loader, vals map[string]float32) error {
	if l.err != nil {
		return l.err
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !(vals[k] > 0) {
			return fmt.Errorf("model: %s.%s = %v, want a positive number", l.Arch, k, vals[k])
		}
	}
	return nil
}
