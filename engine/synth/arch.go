package synth

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
)

// A Spec is a small model of one GGUF architecture with random weights,
// written by the project's GGUF writer. The same spec and seed always
// give the same file, so engine/model's tests regenerate it and commit
// only llama.cpp's outputs on it (engine/model/testdata/arch/NAME.json).
type Spec struct {
	Name, Arch string
	// Vocab names the shared vocabulary (../shared/testdata/vocab) that
	// AddVocab adds for llama.cpp and the engine's tokenizer; the model
	// itself only needs its size.
	Vocab                               string
	VocabSize                           int
	Dim, Hidden, Layers, Heads, KVHeads int
	HeadDim                             int  // 0: Dim/Heads, and no key_length key
	Tied                                bool // no output.weight: the embeddings classify
	RopeFreqs                           bool // a Llama 3-style rope_freqs tensor
	RopeFactors                         bool // Phi-3-style rope_factors_long and _short tensors
	Ctx                                 int  // context_length (0: 256)
	Limit                               int  // the context to run it with (LimitContext; llama.cpp's n_ctx), 0: Ctx
	Keys                                map[string]any
	// Block lists each layer's tensors as (suffix, ggml dims).
	Block func(s Spec) []Tensor
}

// Tensor is one tensor of a block: its name after "blk.N." and its ggml
// dims (innermost first).
type Tensor struct {
	Name string
	Dims []uint64
}

// HeadSize is the width of one attention head.
func (s Spec) HeadSize() int {
	if s.HeadDim > 0 {
		return s.HeadDim
	}
	return s.Dim / s.Heads
}

// GGUFSeed seeds the weights of every Spec.
const GGUFSeed = 11

// Each layer's usual tensors, in llama.cpp's names and ggml dims.
func attnQKVO(s Spec) []Tensor {
	d, qd, kv := uint64(s.Dim), uint64(s.Heads*s.HeadSize()), uint64(s.KVHeads*s.HeadSize())
	return []Tensor{{"attn_q.weight", []uint64{d, qd}}, {"attn_k.weight", []uint64{d, kv}},
		{"attn_v.weight", []uint64{d, kv}}, {"attn_output.weight", []uint64{qd, d}}}
}

func ffnGateUpDown(s Spec) []Tensor {
	d, h := uint64(s.Dim), uint64(s.Hidden)
	return []Tensor{{"ffn_gate.weight", []uint64{d, h}}, {"ffn_up.weight", []uint64{d, h}}, {"ffn_down.weight", []uint64{h, d}}}
}

func vec(name string, n int) Tensor { return Tensor{name, []uint64{uint64(n)}} }

func preNorms(s Spec) []Tensor {
	return []Tensor{vec("attn_norm.weight", s.Dim), vec("ffn_norm.weight", s.Dim)}
}

func postNorms(s Spec) []Tensor {
	return []Tensor{vec("post_attention_norm.weight", s.Dim), vec("post_ffw_norm.weight", s.Dim)}
}

func join(parts ...[]Tensor) []Tensor {
	var out []Tensor
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func llamaBlock(s Spec) []Tensor { return join(preNorms(s), attnQKVO(s), ffnGateUpDown(s)) }

// experts is a mixture of n experts of width ff: router and stacked
// gate, up and down.
func experts(s Spec, ff, n uint64) []Tensor {
	d := uint64(s.Dim)
	return []Tensor{{"ffn_gate_inp.weight", []uint64{d, n}}, {"ffn_gate_exps.weight", []uint64{d, ff, n}},
		{"ffn_up_exps.weight", []uint64{d, ff, n}}, {"ffn_down_exps.weight", []uint64{ff, d, n}}}
}

func phi3Block(s Spec) []Tensor {
	d, h, qkv := uint64(s.Dim), uint64(s.Hidden), uint64((s.Heads+2*s.KVHeads)*s.HeadSize())
	return join(preNorms(s), []Tensor{{"attn_qkv.weight", []uint64{d, qkv}}, {"attn_output.weight", []uint64{d, d}},
		{"ffn_up.weight", []uint64{d, 2 * h}}, {"ffn_down.weight", []uint64{h, d}}})
}

var phi3LongRope = map[string]any{"rope.dimension_count": uint32(12), "rope.scaling.type": "longrope",
	"rope.scaling.original_context_length": uint32(256), "rope.scaling.attn_factor": float32(1.19)}

// Specs are the models engine/model checks against llama.cpp: one or
// more per architecture, each exercising what sets it apart.
var Specs = []Spec{
	{Name: "llama", Arch: "llama", Vocab: "llama-spm", VocabSize: 32000, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2,
		RopeFreqs: true, Keys: map[string]any{"rope.freq_base": float32(500000)}, Block: llamaBlock},
	// Mistral Nemo's shape: a head size that is not dim/heads, no rope_freqs.
	{Name: "llama-headdim", Arch: "llama", Vocab: "llama-spm", VocabSize: 32000, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 1,
		HeadDim: 32, Tied: true, Block: llamaBlock},
	{Name: "qwen2", Arch: "qwen2", Vocab: "gpt-2", VocabSize: 50257, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2,
		Keys: map[string]any{"rope.freq_base": float32(1000000)},
		Block: func(s Spec) []Tensor {
			kv := s.KVHeads * s.HeadSize()
			return join(llamaBlock(s), []Tensor{vec("attn_q.bias", s.Heads*s.HeadSize()), vec("attn_k.bias", kv), vec("attn_v.bias", kv)})
		}},
	{Name: "qwen3", Arch: "qwen3", Vocab: "gpt-2", VocabSize: 50257, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 32,
		Keys: map[string]any{"rope.freq_base": float32(1000000)},
		Block: func(s Spec) []Tensor {
			return join(llamaBlock(s), []Tensor{vec("attn_q_norm.weight", s.HeadSize()), vec("attn_k_norm.weight", s.HeadSize())})
		}},
	// Four experts of 32, two used per token.
	{Name: "qwen3moe", Arch: "qwen3moe", Vocab: "gpt-2", VocabSize: 50257, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 32,
		Keys: map[string]any{"rope.freq_base": float32(1000000), "expert_count": uint32(4), "expert_used_count": uint32(2),
			"expert_feed_forward_length": uint32(32)},
		Block: func(s Spec) []Tensor {
			return join(preNorms(s), attnQKVO(s), []Tensor{vec("attn_q_norm.weight", s.HeadSize()), vec("attn_k_norm.weight", s.HeadSize())},
				experts(s, 32, 4))
		}},
	// OLMoE: whole-vector q/k norms (sized by dim, so no GQA) and four
	// experts of feed_forward_length, two used, weights not renormalised.
	{Name: "olmoe", Arch: "olmoe", Vocab: "gpt-neox", VocabSize: 50432, Dim: 64, Hidden: 32, Layers: 2, Heads: 4, KVHeads: 4,
		Keys: map[string]any{"expert_count": uint32(4), "expert_used_count": uint32(2)},
		Block: func(s Spec) []Tensor {
			return join(preNorms(s), attnQKVO(s), []Tensor{vec("attn_q_norm.weight", s.Dim), vec("attn_k_norm.weight", s.Dim)},
				experts(s, 32, 4))
		}},
	{Name: "phi3", Arch: "phi3", Vocab: "phi-3", VocabSize: 32064, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 4,
		Keys: map[string]any{"attention.sliding_window": uint32(6)}, Block: phi3Block},
	// Phi-3.5 / Phi-4-mini style: long and short RoPE factors, an attention
	// factor, and RoPE over 12 of each head's 16 values. With 512
	// positions (more than the original 256) the long factors apply; the
	// same file limited to 256 positions uses the short ones.
	{Name: "phi3-longrope", Arch: "phi3", Vocab: "phi-3", VocabSize: 32064, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2,
		RopeFactors: true, Ctx: 512, Keys: phi3LongRope, Block: phi3Block},
	{Name: "phi3-shortrope", Arch: "phi3", Vocab: "phi-3", VocabSize: 32064, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2,
		RopeFactors: true, Ctx: 512, Limit: 256, Keys: phi3LongRope, Block: phi3Block},
	// llama.cpp knows Gemma 2 only at its real depths (26, 42, 46 layers).
	{Name: "gemma2", Arch: "gemma2", Vocab: "llama-spm", VocabSize: 32000, Dim: 64, Hidden: 128, Layers: 26, Heads: 4, KVHeads: 2,
		HeadDim: 32, Tied: true,
		Keys:  map[string]any{"attention.sliding_window": uint32(5), "attn_logit_softcapping": float32(2), "final_logit_softcapping": float32(5)},
		Block: func(s Spec) []Tensor { return join(llamaBlock(s), postNorms(s)) }},
	{Name: "gemma3", Arch: "gemma3", Vocab: "llama-spm", VocabSize: 32000, Dim: 64, Hidden: 128, Layers: 7, Heads: 4, KVHeads: 2,
		HeadDim: 32, Tied: true,
		Keys: map[string]any{"attention.sliding_window": uint32(5), "rope.freq_base": float32(1000000),
			"rope.scaling.type": "linear", "rope.scaling.factor": float32(8)},
		Block: func(s Spec) []Tensor {
			return join(llamaBlock(s), postNorms(s), []Tensor{vec("attn_q_norm.weight", s.HeadSize()), vec("attn_k_norm.weight", s.HeadSize())})
		}},
	{Name: "granite", Arch: "granite", Vocab: "starcoder", VocabSize: 49152, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2,
		Keys:  map[string]any{"embedding_scale": float32(12), "residual_scale": float32(0.22), "attention.scale": float32(0.2), "logit_scale": float32(4)},
		Block: llamaBlock},
	// llama.cpp sizes OLMo 2's k norm by dim, so this one has no GQA.
	{Name: "olmo2", Arch: "olmo2", Vocab: "gpt-neox", VocabSize: 50432, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 4,
		Block: func(s Spec) []Tensor {
			return join(attnQKVO(s), []Tensor{vec("attn_q_norm.weight", s.Dim), vec("attn_k_norm.weight", s.Dim)}, ffnGateUpDown(s), postNorms(s))
		}},
}

// GGUF builds the spec's GGUF: hyperparameters, then tensors in a
// fixed order filled from one PCG stream: matrices and biases uniform in
// [-1/8, 1/8), norms in 1 ± 1/10, rope_freqs rising from 1 to 8 as
// Llama 3's do from high to low frequencies.
//
// edit, if not nil, may change each tensor's dims before it is written,
// or drop it by returning nil (for the bad-file tests).
func GGUF(s Spec, edit func(name string, dims []uint64) []uint64) (*gguf.Writer, error) {
	w := gguf.NewWriter()
	var errs []error
	add := func(k string, v any) { errs = append(errs, w.Add(k, v)) }
	add("general.architecture", s.Arch)
	keys := map[string]any{
		"context_length": uint32(cmp.Or(s.Ctx, 256)), "embedding_length": uint32(s.Dim), "feed_forward_length": uint32(s.Hidden),
		"block_count": uint32(s.Layers), "attention.head_count": uint32(s.Heads), "attention.head_count_kv": uint32(s.KVHeads),
		"attention.layer_norm_rms_epsilon": float32(1e-6), "rope.dimension_count": uint32(s.HeadSize()),
	}
	if s.HeadDim > 0 {
		keys["attention.key_length"] = uint32(s.HeadDim)
		keys["attention.value_length"] = uint32(s.HeadDim)
	}
	maps.Copy(keys, s.Keys) // the spec's own keys win
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		add(s.Arch+"."+k, keys[k])
	}
	r := rand.New(rand.NewPCG(GGUFSeed, GGUFSeed))
	tensor := func(name string, dims []uint64) {
		if edit != nil {
			if dims = edit(name, dims); dims == nil {
				return
			}
		}
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			var v float32
			switch {
			case strings.HasSuffix(name, "norm.weight"):
				v = 1 + (r.Float32()-0.5)*0.2
			case name == "rope_factors_short.weight":
				v = 1 + 0.5*float32(i)/float32(n-1)
			case strings.HasPrefix(name, "rope_"):
				v = 1 + 7*float32(i)/float32(n-1)
			default:
				v = (r.Float32() - 0.5) * 0.25
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		errs = append(errs, w.AddTensor(name, ggml.F32, dims, b))
	}
	d := uint64(s.Dim)
	tensor("token_embd.weight", []uint64{d, uint64(s.VocabSize)})
	tensor("output_norm.weight", []uint64{d})
	if !s.Tied {
		tensor("output.weight", []uint64{d, uint64(s.VocabSize)})
	}
	rd := uint64(s.HeadSize() / 2)
	if r, ok := s.Keys["rope.dimension_count"].(uint32); ok {
		rd = uint64(r / 2)
	}
	if s.RopeFreqs {
		tensor("rope_freqs.weight", []uint64{rd})
	}
	if s.RopeFactors {
		tensor("rope_factors_long.weight", []uint64{rd})
		tensor("rope_factors_short.weight", []uint64{rd})
	}
	for l := 0; l < s.Layers; l++ {
		for _, bt := range s.Block(s) {
			tensor(fmt.Sprintf("blk.%d.%s", l, bt.Name), bt.Dims)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("synth: %s: %w", s.Name, err)
	}
	return w, nil
}

// Tiny shrinks a spec to a few hundred weights, for fuzz seeds and
// bad-file tests: same tensors and keys, smaller shapes.
func (s Spec) Tiny() Spec {
	s.VocabSize, s.Dim, s.Hidden, s.Heads = 24, 16, 32, 2
	s.KVHeads = min(s.KVHeads, 2)
	if s.HeadDim > 0 {
		s.HeadDim = 8
	}
	s.Layers = min(s.Layers, 2)
	if _, ok := s.Keys["rope.dimension_count"]; ok {
		s.Keys = maps.Clone(s.Keys)
		s.Keys["rope.dimension_count"] = uint32(s.HeadSize() * 3 / 4)
	}
	return s
}

// AddVocab copies the tokenizer.* keys of the GGUF vocabulary at path
// (one of ../shared/testdata/vocab) into w, so that llama.cpp and the
// engine can load the model with a real vocabulary. It changes no weight.
func AddVocab(w *gguf.Writer, s Spec, path string) error {
	v, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer v.Close()
	if toks, err := v.Strings("tokenizer.ggml.tokens"); err != nil || len(toks) != s.VocabSize {
		return fmt.Errorf("synth: %s has %d tokens (%v), spec %s says %d", path, len(toks), err, s.Name, s.VocabSize)
	}
	for _, kv := range v.KV {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			if err := w.Add(kv.Key, kv.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// Named returns the spec called name.
func Named(name string) (Spec, bool) {
	for _, s := range Specs {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}
