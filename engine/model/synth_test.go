package model

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
)

// A synthSpec is a tiny model of one architecture with random weights,
// written by the project's GGUF writer. The same spec and seed always
// give the same file, so the tests regenerate it and only the reference
// outputs are committed (testdata/arch/NAME.json).
type synthSpec struct {
	name, arch string
	// vocab is the shared vocabulary (../shared/testdata/vocab) whose
	// tokenizer keys were added for llama.cpp to load the file; the model
	// itself only needs its size.
	vocab                               string
	vocabSize                           int
	dim, hidden, layers, heads, kvHeads int
	headDim                             int // 0: dim/heads, and no key_length key
	tied                                bool
	ropeFreqs                           bool // a Llama 3-style rope_freqs tensor
	ropeFactors                         bool // Phi-3-style rope_factors_long and _short tensors
	ctx                                 int  // context_length (0: 256)
	limit                               int  // the context the model is run with (LimitContext; llama.cpp's n_ctx), 0: ctx
	keys                                map[string]any
	// block lists each layer's tensors beyond what every block has,
	// as (suffix, ggml dims).
	block func(s synthSpec) []synthTensor
}

type synthTensor struct {
	name string
	dims []uint64
}

func (s synthSpec) hs() int {
	if s.headDim > 0 {
		return s.headDim
	}
	return s.dim / s.heads
}

const synthSeed = 11

// Each layer's usual tensors, in llama.cpp's names and ggml dims.
func attnQKVO(s synthSpec) []synthTensor {
	d, qd, kv := uint64(s.dim), uint64(s.heads*s.hs()), uint64(s.kvHeads*s.hs())
	return []synthTensor{{"attn_q.weight", []uint64{d, qd}}, {"attn_k.weight", []uint64{d, kv}},
		{"attn_v.weight", []uint64{d, kv}}, {"attn_output.weight", []uint64{qd, d}}}
}

func ffnGateUpDown(s synthSpec) []synthTensor {
	d, h := uint64(s.dim), uint64(s.hidden)
	return []synthTensor{{"ffn_gate.weight", []uint64{d, h}}, {"ffn_up.weight", []uint64{d, h}}, {"ffn_down.weight", []uint64{h, d}}}
}

func vec(name string, n int) synthTensor { return synthTensor{name, []uint64{uint64(n)}} }

func preNorms(s synthSpec) []synthTensor {
	return []synthTensor{vec("attn_norm.weight", s.dim), vec("ffn_norm.weight", s.dim)}
}

func postNorms(s synthSpec) []synthTensor {
	return []synthTensor{vec("post_attention_norm.weight", s.dim), vec("post_ffw_norm.weight", s.dim)}
}

func join(parts ...[]synthTensor) []synthTensor {
	var out []synthTensor
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func llamaBlock(s synthSpec) []synthTensor { return join(preNorms(s), attnQKVO(s), ffnGateUpDown(s)) }

func phi3Block(s synthSpec) []synthTensor {
	d, h, qkv := uint64(s.dim), uint64(s.hidden), uint64((s.heads+2*s.kvHeads)*s.hs())
	return join(preNorms(s), []synthTensor{{"attn_qkv.weight", []uint64{d, qkv}}, {"attn_output.weight", []uint64{d, d}},
		{"ffn_up.weight", []uint64{d, 2 * h}}, {"ffn_down.weight", []uint64{h, d}}})
}

var phi3LongRope = map[string]any{"rope.dimension_count": uint32(12), "rope.scaling.type": "longrope",
	"rope.scaling.original_context_length": uint32(256), "rope.scaling.attn_factor": float32(1.19)}

var synthSpecs = []synthSpec{
	{name: "llama", arch: "llama", vocab: "llama-spm", vocabSize: 32000, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2,
		ropeFreqs: true, keys: map[string]any{"rope.freq_base": float32(500000)}, block: llamaBlock},
	// Mistral Nemo's shape: a head size that is not dim/heads, no rope_freqs.
	{name: "llama-headdim", arch: "llama", vocab: "llama-spm", vocabSize: 32000, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 1,
		headDim: 32, tied: true, block: llamaBlock},
	{name: "qwen2", arch: "qwen2", vocab: "gpt-2", vocabSize: 50257, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2,
		keys: map[string]any{"rope.freq_base": float32(1000000)},
		block: func(s synthSpec) []synthTensor {
			kv := s.kvHeads * s.hs()
			return join(llamaBlock(s), []synthTensor{vec("attn_q.bias", s.heads*s.hs()), vec("attn_k.bias", kv), vec("attn_v.bias", kv)})
		}},
	{name: "qwen3", arch: "qwen3", vocab: "gpt-2", vocabSize: 50257, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2, headDim: 32,
		keys: map[string]any{"rope.freq_base": float32(1000000)},
		block: func(s synthSpec) []synthTensor {
			return join(llamaBlock(s), []synthTensor{vec("attn_q_norm.weight", s.hs()), vec("attn_k_norm.weight", s.hs())})
		}},
	// Four experts of 32, two used per token.
	{name: "qwen3moe", arch: "qwen3moe", vocab: "gpt-2", vocabSize: 50257, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2, headDim: 32,
		keys: map[string]any{"rope.freq_base": float32(1000000), "expert_count": uint32(4), "expert_used_count": uint32(2),
			"expert_feed_forward_length": uint32(32)},
		block: func(s synthSpec) []synthTensor {
			d, ff, e := uint64(s.dim), uint64(32), uint64(4)
			return join(preNorms(s), attnQKVO(s), []synthTensor{vec("attn_q_norm.weight", s.hs()), vec("attn_k_norm.weight", s.hs()),
				{"ffn_gate_inp.weight", []uint64{d, e}}, {"ffn_gate_exps.weight", []uint64{d, ff, e}},
				{"ffn_up_exps.weight", []uint64{d, ff, e}}, {"ffn_down_exps.weight", []uint64{ff, d, e}}})
		}},
	{name: "phi3", arch: "phi3", vocab: "phi-3", vocabSize: 32064, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 4,
		keys: map[string]any{"attention.sliding_window": uint32(6)}, block: phi3Block},
	// Phi-3.5 / Phi-4-mini style: long and short RoPE factors, an attention
	// factor, and RoPE over 12 of each head's 16 values. With 512
	// positions (more than the original 256) the long factors apply; the
	// same file limited to 256 positions uses the short ones.
	{name: "phi3-longrope", arch: "phi3", vocab: "phi-3", vocabSize: 32064, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2,
		ropeFactors: true, ctx: 512, keys: phi3LongRope, block: phi3Block},
	{name: "phi3-shortrope", arch: "phi3", vocab: "phi-3", vocabSize: 32064, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2,
		ropeFactors: true, ctx: 512, limit: 256, keys: phi3LongRope, block: phi3Block},
	// llama.cpp knows Gemma 2 only at its real depths (26, 42, 46 layers).
	{name: "gemma2", arch: "gemma2", vocab: "llama-spm", vocabSize: 32000, dim: 64, hidden: 128, layers: 26, heads: 4, kvHeads: 2,
		headDim: 32, tied: true,
		keys:  map[string]any{"attention.sliding_window": uint32(5), "attn_logit_softcapping": float32(2), "final_logit_softcapping": float32(5)},
		block: func(s synthSpec) []synthTensor { return join(llamaBlock(s), postNorms(s)) }},
	{name: "gemma3", arch: "gemma3", vocab: "llama-spm", vocabSize: 32000, dim: 64, hidden: 128, layers: 7, heads: 4, kvHeads: 2,
		headDim: 32, tied: true,
		keys: map[string]any{"attention.sliding_window": uint32(5), "rope.freq_base": float32(1000000),
			"rope.scaling.type": "linear", "rope.scaling.factor": float32(8)},
		block: func(s synthSpec) []synthTensor {
			return join(llamaBlock(s), postNorms(s), []synthTensor{vec("attn_q_norm.weight", s.hs()), vec("attn_k_norm.weight", s.hs())})
		}},
	{name: "granite", arch: "granite", vocab: "starcoder", vocabSize: 49152, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2,
		keys:  map[string]any{"embedding_scale": float32(12), "residual_scale": float32(0.22), "attention.scale": float32(0.2), "logit_scale": float32(4)},
		block: llamaBlock},
	// llama.cpp sizes OLMo 2's k norm by dim, so this one has no GQA.
	{name: "olmo2", arch: "olmo2", vocab: "gpt-neox", vocabSize: 50432, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 4,
		block: func(s synthSpec) []synthTensor {
			return join(attnQKVO(s), []synthTensor{vec("attn_q_norm.weight", s.dim), vec("attn_k_norm.weight", s.dim)}, ffnGateUpDown(s), postNorms(s))
		}},
}

// synthWriter builds the spec's GGUF: hyperparameters, then tensors in a
// fixed order filled from one PCG stream: matrices and biases uniform in
// [-1/8, 1/8), norms in 1 ± 1/10, rope_freqs rising from 1 to 8 as
// Llama 3's do from high to low frequencies.
//
// edit, if not nil, may change each tensor's dims before it is written,
// or drop it by returning nil (for the bad-file tests).
func synthWriter(t testing.TB, s synthSpec, edit func(name string, dims []uint64) []uint64) *gguf.Writer {
	w := gguf.NewWriter()
	add := func(k string, v any) {
		if err := w.Add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	add("general.architecture", s.arch)
	keys := map[string]any{
		"context_length": uint32(cmp.Or(s.ctx, 256)), "embedding_length": uint32(s.dim), "feed_forward_length": uint32(s.hidden),
		"block_count": uint32(s.layers), "attention.head_count": uint32(s.heads), "attention.head_count_kv": uint32(s.kvHeads),
		"attention.layer_norm_rms_epsilon": float32(1e-6), "rope.dimension_count": uint32(s.hs()),
	}
	if s.headDim > 0 {
		keys["attention.key_length"] = uint32(s.headDim)
		keys["attention.value_length"] = uint32(s.headDim)
	}
	maps.Copy(keys, s.keys) // the spec's own keys win
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		add(s.arch+"."+k, keys[k])
	}
	r := rand.New(rand.NewPCG(synthSeed, synthSeed))
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
		if err := w.AddTensor(name, ggml.F32, dims, b); err != nil {
			t.Fatal(err)
		}
	}
	d := uint64(s.dim)
	tensor("token_embd.weight", []uint64{d, uint64(s.vocabSize)})
	tensor("output_norm.weight", []uint64{d})
	if !s.tied {
		tensor("output.weight", []uint64{d, uint64(s.vocabSize)})
	}
	rd := uint64(s.hs() / 2)
	if r, ok := s.keys["rope.dimension_count"].(uint32); ok {
		rd = uint64(r / 2)
	}
	if s.ropeFreqs {
		tensor("rope_freqs.weight", []uint64{rd})
	}
	if s.ropeFactors {
		tensor("rope_factors_long.weight", []uint64{rd})
		tensor("rope_factors_short.weight", []uint64{rd})
	}
	for l := 0; l < s.layers; l++ {
		for _, bt := range s.block(s) {
			tensor(fmt.Sprintf("blk.%d.%s", l, bt.name), bt.dims)
		}
	}
	return w
}

// synthModel loads the spec's model from its GGUF bytes.
func synthModel(t testing.TB, s synthSpec) *Model {
	f, err := gguf.Parse(synthBytes(t, s, nil))
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromGGUF(f)
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	m.LimitContext(s.limit)
	return m
}

// tiny shrinks a spec to a few hundred weights, for fuzz seeds and
// bad-file tests: same tensors and keys, smaller shapes.
func (s synthSpec) tiny() synthSpec {
	s.vocabSize, s.dim, s.hidden, s.heads = 24, 16, 32, 2
	s.kvHeads = min(s.kvHeads, 2)
	if s.headDim > 0 {
		s.headDim = 8
	}
	s.layers = min(s.layers, 2)
	if _, ok := s.keys["rope.dimension_count"]; ok {
		s.keys = maps.Clone(s.keys)
		s.keys["rope.dimension_count"] = uint32(s.hs() * 3 / 4)
	}
	return s
}

// synthBytes writes the spec's GGUF into memory (edit as for synthWriter).
func synthBytes(t testing.TB, s synthSpec, edit func(name string, dims []uint64) []uint64) []byte {
	w := synthWriter(t, s, edit)
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
