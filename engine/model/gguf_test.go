package model

import (
	"bytes"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
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
			w.AddTensor("token_embd.weight", ggml.Q5_K, []uint64{256, 4}, make([]byte, 4*176))
		}, "type Q5_K"},
		{"wrong shape", func(w *gguf.Writer) {
			llama(w)
			w.AddTensor("token_embd.weight", ggml.F32, []uint64{8, 4}, make([]byte, 4*32))
			w.AddTensor("output_norm.weight", ggml.F32, []uint64{8}, make([]byte, 32))
			w.AddTensor("blk.0.attn_q.weight", ggml.F32, []uint64{8, 4}, make([]byte, 4*32))
		}, "blk.0.attn_k.weight"},
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
