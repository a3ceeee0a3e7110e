package synth

import (
	"fmt"
	"math/rand/v2"
	"unsafe"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/kernels"
)

// Shape is the size of a llama-architecture model. Every shape here ties
// its output matrix to the token embedding, as the models named do.
type Shape struct {
	Name                            string
	Dim, Hidden, Layers, Heads, KVs int
	Vocab                           int
	RopeBase                        float32
}

// Shapes are the real models whose sizes the engine benchmark uses.
// Qwen2.5-0.5B is written as the llama architecture: the same products and
// attention, without its q/k/v biases (a few thousand additions a token).
var Shapes = []Shape{
	{Name: "15M", Dim: 288, Hidden: 768, Layers: 6, Heads: 6, KVs: 6, Vocab: 32000, RopeBase: 10000},
	{Name: "llama3.2-1b", Dim: 2048, Hidden: 8192, Layers: 16, Heads: 32, KVs: 8, Vocab: 128256, RopeBase: 500000},
	{Name: "qwen2.5-0.5b", Dim: 896, Hidden: 4864, Layers: 24, Heads: 14, KVs: 2, Vocab: 151936, RopeBase: 1000000},
}

// Mixes are the weight formats WriteGGUF writes.
var Mixes = []string{"q8_0", "q4_k_m"}

// Report says what WriteGGUF wrote.
type Report struct {
	Bytes int64
	// Types counts the weight matrices of each type.
	Types map[ggml.Type]int
}

// WriteGGUF writes a GGUF model of shape s with weights uniform in
// [-0.05, 0.05) from a PCG seeded by (seed, seed), norms of one, and a
// vocabulary of SentencePiece byte tokens, single characters and filler
// pieces that no text of letters merges into (so a text of n letters is n
// tokens). mix is "q8_0" (every matrix Q8_0) or "q4_k_m", which follows
// llama-quantize's Q4_K_M choices for a llama model: Q6_K for the tied
// embedding and for attn_v and ffn_down in the layers that get more bits,
// Q4_K elsewhere, with its fallbacks (Q5_0 for Q4_K, Q8_0 for Q6_K) where a
// row is not a whole number of 256-element blocks. The file is written to
// path+".tmp" and renamed.
func WriteGGUF(path string, s Shape, mix string, seed uint64) (Report, error) {
	rep := Report{Types: map[ggml.Type]int{}}
	var ftype uint32
	switch mix {
	case "q8_0":
		ftype = 7
	case "q4_k_m":
		ftype = 15
	default:
		return rep, fmt.Errorf("synth: unknown weight mix %q (want q8_0 or q4_k_m)", mix)
	}
	w := gguf.NewWriter()
	tokens, scores, types := vocab(s.Vocab)
	err := w.AddLlama(gguf.Llama{
		Name: "synthetic " + s.Name + " " + mix, FileType: ftype, Context: 4096,
		Dim: s.Dim, Hidden: s.Hidden, Layers: s.Layers, Heads: s.Heads, KVHeads: s.KVs, RopeBase: s.RopeBase,
		Tokens: tokens, Scores: scores, TokenTypes: types,
	})
	if err != nil {
		return rep, err
	}
	r := rand.New(rand.NewPCG(seed, seed))
	moreBits := func(i int) bool { // llama-quantize's use_more_bits
		n := s.Layers
		return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
	}
	add := func(name string, rows, cols int, t ggml.Type) error {
		if rows == 1 { // a norm
			ones := make([]float32, cols)
			for i := range ones {
				ones[i] = 1
			}
			return w.AddTensor(name, ggml.F32, []uint64{uint64(cols)}, unsafe.Slice((*byte)(unsafe.Pointer(&ones[0])), 4*cols))
		}
		if mix == "q8_0" {
			t = ggml.Q8_0
		} else if cols%256 != 0 {
			t = map[ggml.Type]ggml.Type{ggml.Q4_K: ggml.Q5_0, ggml.Q6_K: ggml.Q8_0}[t]
		}
		x := make([]float32, rows*cols)
		for i := range x {
			x[i] = (r.Float32() - 0.5) * 0.1
		}
		data, err := kernels.Quantize(t, x)
		if err != nil {
			return fmt.Errorf("synth: %s: %w", name, err)
		}
		rep.Types[t]++
		return w.AddTensor(name, t, []uint64{uint64(cols), uint64(rows)}, data)
	}
	kv := s.KVs * (s.Dim / s.Heads)
	errs := []error{add("token_embd.weight", s.Vocab, s.Dim, ggml.Q6_K)}
	for i := range s.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		vd := ggml.Q4_K
		if moreBits(i) {
			vd = ggml.Q6_K
		}
		errs = append(errs,
			add(p+"attn_norm.weight", 1, s.Dim, ggml.F32),
			add(p+"attn_q.weight", s.Dim, s.Dim, ggml.Q4_K),
			add(p+"attn_k.weight", kv, s.Dim, ggml.Q4_K),
			add(p+"attn_v.weight", kv, s.Dim, vd),
			add(p+"attn_output.weight", s.Dim, s.Dim, ggml.Q4_K),
			add(p+"ffn_norm.weight", 1, s.Dim, ggml.F32),
			add(p+"ffn_gate.weight", s.Hidden, s.Dim, ggml.Q4_K),
			add(p+"ffn_down.weight", s.Dim, s.Hidden, vd),
			add(p+"ffn_up.weight", s.Hidden, s.Dim, ggml.Q4_K),
		)
	}
	errs = append(errs, add("output_norm.weight", 1, s.Dim, ggml.F32))
	for _, err := range errs {
		if err != nil {
			return rep, err
		}
	}
	rep.Bytes, err = w.WriteFile(path)
	return rep, err
}

// vocab returns n SentencePiece tokens: unknown, BOS, EOS, the 256 byte
// tokens, "▁" and the printable ASCII characters, then fillers "▁w<i>".
// No two characters of a text merge: no piece of two characters exists
// but through a filler, and "▁w" is not one.
func vocab(n int) (tokens []string, scores []float32, types []int32) {
	tokens = []string{"<unk>", "<s>", "</s>"}
	types = []int32{2, 3, 3}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6)
	}
	tokens = append(tokens, "\u2581")
	types = append(types, 1)
	for c := byte('!'); c <= '~'; c++ {
		tokens = append(tokens, string(c))
		types = append(types, 1)
	}
	for i := 0; len(tokens) < n; i++ {
		tokens = append(tokens, "\u2581w"+fmt.Sprint(i))
		types = append(types, 1)
	}
	tokens, types = tokens[:n], types[:n]
	scores = make([]float32, n)
	for i := range scores {
		scores[i] = -float32(i)
	}
	return tokens, scores, types
}
