package model

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/kernels"
)

// GGUF files of the llama architecture use llama.cpp's tensor names
// (token_embd, blk.N.attn_q, …, output_norm, output) and hyperparameters
// under "llama.*".
//
// Q/K layout: RoPE here rotates the adjacent pairs (2i, 2i+1) of each head,
// as llama2.c and Meta's original checkpoints do. llama.cpp's converter
// permutes Hugging Face's Q and K weights (which pair i with i+headSize/2)
// back into that interleaved layout, so GGUF llama files and llama2.c
// checkpoints share it: neither loading nor `runnel convert` permutes
// anything.

// OpenGGUF maps a GGUF file and builds a Model over its tensors. The
// returned File carries the tokenizer metadata; the Model owns it, so
// closing the Model closes the File.
func OpenGGUF(path string) (*Model, *gguf.File, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, f, nil
}

// FromGGUF builds a Model over an open GGUF file's tensors.
func FromGGUF(f *gguf.File) (*Model, error) {
	arch, err := f.String("general.architecture")
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if arch != "llama" {
		return nil, fmt.Errorf("model: architecture %q is not supported (only llama)", arch)
	}
	var errs []error
	num := func(key string, def int64) int {
		v, err := f.Int64("llama." + key)
		if errors.Is(err, gguf.ErrNotFound) && def >= 0 {
			return int(def)
		}
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		if v <= 0 || v > 1<<24 {
			errs = append(errs, fmt.Errorf("model: llama.%s = %d is out of range", key, v))
			return 0
		}
		return int(v)
	}
	flt := func(key string, def float32) float32 {
		v, err := f.Float32("llama." + key)
		if errors.Is(err, gguf.ErrNotFound) {
			return def
		}
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	c := Config{
		Dim: num("embedding_length", -1), HiddenDim: num("feed_forward_length", -1),
		Layers: num("block_count", -1), Heads: num("attention.head_count", -1),
		SeqLen:    num("context_length", -1),
		NormEps:   flt("attention.layer_norm_rms_epsilon", 1e-5),
		RopeTheta: flt("rope.freq_base", 10000),
	}
	c.KVHeads = num("attention.head_count_kv", int64(c.Heads))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.Heads > 0 && c.Dim%c.Heads == 0 {
		if rd := num("rope.dimension_count", int64(c.Dim/c.Heads)); rd != c.Dim/c.Heads {
			return nil, fmt.Errorf("model: partial RoPE (rope.dimension_count %d, head size %d) is not supported", rd, c.Dim/c.Heads)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	embd, err := matrix(f, "token_embd.weight")
	if err != nil {
		return nil, err
	}
	c.VocabSize = embd.Rows
	m := &Model{Config: c, Format: "gguf", embed: embd, closer: f.Close}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if m.output, err = matrix(f, "output.weight"); errors.Is(err, gguf.ErrNotFound) {
		m.output = embd // tied embeddings
	} else if err != nil {
		return nil, err
	}
	if m.norm, err = vector(f, "output_norm.weight"); err != nil {
		return nil, err
	}
	for i := 0; i < c.Layers; i++ {
		var b block
		p := fmt.Sprintf("blk.%d.", i)
		for _, t := range []struct {
			name string
			dst  **kernels.Matrix
		}{
			{"attn_q", &b.wq}, {"attn_k", &b.wk}, {"attn_v", &b.wv}, {"attn_output", &b.wo},
			{"ffn_gate", &b.gate}, {"ffn_down", &b.down}, {"ffn_up", &b.upProj},
		} {
			if *t.dst, err = matrix(f, p+t.name+".weight"); err != nil {
				return nil, err
			}
		}
		if b.attnNorm, err = vector(f, p+"attn_norm.weight"); err != nil {
			return nil, err
		}
		if b.ffnNorm, err = vector(f, p+"ffn_norm.weight"); err != nil {
			return nil, err
		}
		m.blocks = append(m.blocks, b)
	}
	for _, t := range f.Tensors {
		m.Params += int64(t.Elems())
	}
	if err := m.init(); err != nil {
		return nil, err
	}
	return m, nil
}

// matrix views a 2-D tensor (ggml dims [cols, rows]) as a Matrix.
func matrix(f *gguf.File, name string) (*kernels.Matrix, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	if len(t.Dims) != 2 {
		return nil, fmt.Errorf("model: tensor %s has %d dimensions, want 2", name, len(t.Dims))
	}
	if !kernels.Supported(t.Type) {
		return nil, fmt.Errorf("model: tensor %s has type %s, which the engine does not support", name, t.Type)
	}
	m, err := kernels.NewMatrix(t.Type, int(t.Dims[1]), int(t.Dims[0]), t.Data)
	if err != nil {
		return nil, fmt.Errorf("model: tensor %s: %w", name, err)
	}
	return m, nil
}

// vector returns a 1-D tensor as float32s: a view for aligned F32 data,
// else a dequantized copy (norm weights are small).
func vector(f *gguf.File, name string) ([]float32, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	if len(t.Dims) != 1 {
		return nil, fmt.Errorf("model: tensor %s has %d dimensions, want 1", name, len(t.Dims))
	}
	n := int(t.Dims[0])
	if t.Type == ggml.F32 && len(t.Data) == 4*n && n > 0 && uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]float32, n)
	if err := kernels.Dequantize(out, t.Type, t.Data); err != nil {
		return nil, fmt.Errorf("model: tensor %s: %w", name, err)
	}
	return out, nil
}
