package models

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/engine/llama2c"
)

// ConvertTypes are the weight types Convert writes.
var ConvertTypes = map[string]ggml.Type{"f32": ggml.F32, "f16": ggml.F16, "bf16": ggml.BF16, "q8_0": ggml.Q8_0, "q4_0": ggml.Q4_0}

// ConvertReport says what Convert wrote.
type ConvertReport struct {
	Tensors int
	// Fallback names the matrices written as F16 because their rows are
	// not a whole number of the quantized type's blocks.
	Fallback []string
	Bytes    int64
}

// Convert writes a llama2.c checkpoint and its tokenizer as a
// self-contained GGUF file of the llama architecture, with the weight
// matrices in type t (norms stay F32). The Q and K matrices are copied as
// they are: llama2.c and GGUF share the interleaved RoPE layout (see
// package model). The file is written to out+".tmp" and renamed, so a
// failed conversion leaves no partial out.
func Convert(checkpoint, tokenizer, out string, t ggml.Type) (ConvertReport, error) {
	var rep ConvertReport
	ck, err := llama2c.Open(checkpoint)
	if err != nil {
		return rep, err
	}
	defer ck.Close()
	tb, err := os.ReadFile(tokenizer)
	if err != nil {
		return rep, err
	}
	pieces, scores, err := ParseTokenizerBin(tb)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", tokenizer, err)
	}
	c := ck.Config
	if len(pieces) != c.VocabSize {
		return rep, fmt.Errorf("%s holds %d tokens, the checkpoint's vocabulary is %d", tokenizer, len(pieces), c.VocabSize)
	}
	w := gguf.NewWriter()
	name := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
	tokens := make([]string, len(pieces))
	types := make([]int32, len(pieces))
	for i, p := range pieces {
		tokens[i] = strings.ReplaceAll(p, " ", "\u2581") // SentencePiece's visible space
		switch {
		case i == 0:
			types[i] = 2 // unknown
		case i == 1 || i == 2:
			types[i] = 3 // control: BOS, EOS
		case len(p) == 6 && strings.HasPrefix(p, "<0x") && p[5] == '>':
			types[i] = 6 // byte
		default:
			types[i] = 1 // normal
		}
	}
	err = w.AddLlama(gguf.Llama{
		Name: name, FileType: fileType(t), Context: c.SeqLen,
		Dim: c.Dim, Hidden: c.HiddenDim, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads, RopeBase: 10000,
		Tokens: tokens, Scores: scores, TokenTypes: types,
	})
	if err != nil {
		return rep, err
	}
	add := func(name string, data []float32, rows, cols int) error {
		typ := t
		if rows == 1 { // norms
			typ = ggml.F32
		}
		if be, _ := typ.BlockSize(); cols%be != 0 {
			typ = ggml.F16
			rep.Fallback = append(rep.Fallback, name)
		}
		var raw []byte
		if typ == ggml.F32 {
			raw = unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data))
		} else if raw, err = kernels.Quantize(typ, data); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		dims := []uint64{uint64(cols)}
		if rows > 1 {
			dims = append(dims, uint64(rows))
		}
		rep.Tensors++
		return w.AddTensor(name, typ, dims, raw)
	}
	d, h, kv := c.Dim, c.HiddenDim, c.KVDim()
	errs := []error{add("token_embd.weight", ck.TokenEmbedding, c.VocabSize, d)}
	for i, l := range ck.Blocks {
		p := fmt.Sprintf("blk.%d.", i)
		errs = append(errs,
			add(p+"attn_norm.weight", l.AttnNorm, 1, d),
			add(p+"attn_q.weight", l.WQ, d, d),
			add(p+"attn_k.weight", l.WK, kv, d),
			add(p+"attn_v.weight", l.WV, kv, d),
			add(p+"attn_output.weight", l.WO, d, d),
			add(p+"ffn_norm.weight", l.FFNNorm, 1, d),
			add(p+"ffn_gate.weight", l.W1, h, d),
			add(p+"ffn_down.weight", l.W2, d, h),
			add(p+"ffn_up.weight", l.W3, h, d),
		)
	}
	errs = append(errs, add("output_norm.weight", ck.FinalNorm, 1, d))
	if !c.SharedClassifier { // a missing output tensor means tied embeddings
		errs = append(errs, add("output.weight", ck.Classifier, c.VocabSize, d))
	}
	for _, err := range errs {
		if err != nil {
			return rep, err
		}
	}
	rep.Bytes, err = w.WriteFile(out)
	return rep, err
}

// fileType is GGUF's general.file_type for a file mostly of type t.
func fileType(t ggml.Type) uint32 {
	switch t {
	case ggml.F16:
		return 1
	case ggml.BF16:
		return 32
	case ggml.Q4_0:
		return 2
	case ggml.Q8_0:
		return 7
	}
	return 0
}
