package model

import (
	"bytes"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/synth"
)

func TestGGUFErrors(t *testing.T) {
	llama := func(w *gguf.Writer) {
		for k, v := range map[string]any{
			"general.architecture": "llama", "llama.embedding_length": uint32(8), "llama.feed_forward_length": uint32(32),
			"llama.block_count": uint32(1), "llama.attention.head_count": uint32(2), "llama.context_length": uint32(16),
		} {
			w.Add(k, v)
		}
	}
	for _, tc := range []struct {
		name  string
		build func(w *gguf.Writer)
		want  string
	}{
		{"no architecture", func(w *gguf.Writer) {}, "general.architecture"},
		{"other architecture", func(w *gguf.Writer) { w.Add("general.architecture", "gpt2") }, `architecture "gpt2" is not supported`},
		{"missing hyperparameter", func(w *gguf.Writer) { w.Add("general.architecture", "llama") }, "llama.embedding_length"},
		{"missing tensors", llama, "token_embd.weight"},
		{"unsupported type", func(w *gguf.Writer) {
			llama(w)
			w.AddTensor("token_embd.weight", ggml.IQ2_XXS, []uint64{256, 4}, make([]byte, 4*66))
		}, "type IQ2_XXS"},
		{"wrong shape", func(w *gguf.Writer) {
			llama(w)
			w.AddTensor("token_embd.weight", ggml.F32, []uint64{8, 4}, make([]byte, 4*32))
			w.AddTensor("output_norm.weight", ggml.F32, []uint64{8}, make([]byte, 32))
			w.AddTensor("blk.0.attn_q.weight", ggml.F32, []uint64{8, 4}, make([]byte, 4*32))
		}, "blk.0.attn_q.weight has shape [8 4], want [8 8]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := gguf.NewWriter()
			tc.build(w)
			var buf bytes.Buffer
			if _, err := w.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			_, err = FromGGUF(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// tinyGGUF builds a valid 1-layer llama GGUF with F32 and Q8_0 weights.
func tinyGGUF(t testing.TB) []byte {
	w := gguf.NewWriter()
	for _, kv := range []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"}, {"llama.embedding_length", uint32(32)}, {"llama.feed_forward_length", uint32(64)},
		{"llama.block_count", uint32(1)}, {"llama.attention.head_count", uint32(4)}, {"llama.attention.head_count_kv", uint32(2)},
		{"llama.context_length", uint32(8)},
	} {
		if err := w.Add(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	f32 := func(n int) []byte {
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			b[4*i+3] = 0x3c // ~0.0078
		}
		return b
	}
	q8 := func(rows, cols int) []byte { return make([]byte, rows*cols/32*34) }
	add := func(name string, typ ggml.Type, dims []uint64, data []byte) {
		if err := w.AddTensor(name, typ, dims, data); err != nil {
			t.Fatal(err)
		}
	}
	add("token_embd.weight", ggml.F32, []uint64{32, 16}, f32(32*16))
	add("output_norm.weight", ggml.F32, []uint64{32}, f32(32))
	add("blk.0.attn_norm.weight", ggml.F32, []uint64{32}, f32(32))
	add("blk.0.ffn_norm.weight", ggml.F32, []uint64{32}, f32(32))
	add("blk.0.attn_q.weight", ggml.Q8_0, []uint64{32, 32}, q8(32, 32))
	add("blk.0.attn_k.weight", ggml.F32, []uint64{32, 16}, f32(32*16))
	add("blk.0.attn_v.weight", ggml.F32, []uint64{32, 16}, f32(32*16))
	add("blk.0.attn_output.weight", ggml.F32, []uint64{32, 32}, f32(32*32))
	add("blk.0.ffn_gate.weight", ggml.F32, []uint64{32, 64}, f32(32*64))
	add("blk.0.ffn_up.weight", ggml.F32, []uint64{32, 64}, f32(32*64))
	add("blk.0.ffn_down.weight", ggml.Q8_0, []uint64{64, 32}, q8(32, 64))
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzFromGGUF loads mutated GGUF files: whatever parses must load or
// fail with an error, and a model that loads must run a step. The seeds
// cover every architecture's metadata and tensors.
func FuzzFromGGUF(f *testing.F) {
	f.Add(tinyGGUF(f))
	for _, s := range synth.Specs {
		f.Add(synthBytes(f, s.Tiny(), nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		gf, err := gguf.Parse(b)
		if err != nil {
			return
		}
		m, err := FromGGUF(gf)
		if err != nil {
			return
		}
		m.LimitContext(64) // a mutated context length may ask for gigabytes of cache
		s := m.NewSequence()
		if err := m.NewBatch(2).Step([]Entry{{Seq: s, Token: 0}, {Seq: s, Token: m.VocabSize - 1, WantLogits: true}}); err != nil {
			t.Fatal(err)
		}
	})
}
