package model

import (
	"bytes"
	"encoding/binary"
	"maps"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/engine/synth"
)

// load parses and loads a GGUF file, returning the first error.
func load(b []byte) error {
	f, err := gguf.Parse(b)
	if err != nil {
		return err
	}
	m, err := FromGGUF(f)
	if err == nil {
		m.Close()
	}
	return err
}

func specNamed(t *testing.T, name string) synth.Spec {
	for _, s := range synth.Specs {
		if s.Name == name {
			return s.Tiny()
		}
	}
	t.Fatalf("no spec %s", name)
	return synth.Spec{}
}

// TestTinyArchsLoad checks that the shrunken specs (the fuzz seeds and
// the bases of the cases below) load and run.
func TestTinyArchsLoad(t *testing.T) {
	for _, s := range synth.Specs {
		m := synthModel(t, s.Tiny())
		greedy(t, m, []int{1, 2, 3}, 4)
		m.Close()
	}
}

// TestBadFiles checks that broken files of every architecture fail to load
// with an error naming what is wrong, and never panic.
func TestBadFiles(t *testing.T) {
	drop := func(name string) func(string, []uint64) []uint64 {
		return func(n string, dims []uint64) []uint64 {
			if n == name {
				return nil
			}
			return dims
		}
	}
	reshape := func(name string, to ...uint64) func(string, []uint64) []uint64 {
		return func(n string, dims []uint64) []uint64 {
			if n == name {
				return to
			}
			return dims
		}
	}
	withKeys := func(s synth.Spec, kv map[string]any, del ...string) synth.Spec {
		s.Keys = maps.Clone(s.Keys)
		if s.Keys == nil {
			s.Keys = map[string]any{}
		}
		maps.Copy(s.Keys, kv)
		for _, k := range del {
			delete(s.Keys, k)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		spec synth.Spec
		edit func(string, []uint64) []uint64
		want string
	}{
		{"llama missing ffn_gate", specNamed(t, "llama"), drop("blk.1.ffn_gate.weight"), `tensor "blk.1.ffn_gate.weight": not found`},
		{"llama short rope_freqs", specNamed(t, "llama"), reshape("rope_freqs.weight", 3), "rope_freqs.weight has shape [3], want [4]"},
		{"qwen2 missing bias", specNamed(t, "qwen2"), drop("blk.0.attn_k.bias"), `"blk.0.attn_k.bias": not found`},
		{"qwen3 missing k norm", specNamed(t, "qwen3"), drop("blk.1.attn_k_norm.weight"), `"blk.1.attn_k_norm.weight": not found`},
		{"qwen3 wrong q norm", specNamed(t, "qwen3"), reshape("blk.0.attn_q_norm.weight", 5), "blk.0.attn_q_norm.weight has shape [5], want [8]"},
		{"phi3 wrong fused qkv", specNamed(t, "phi3"), reshape("blk.0.attn_qkv.weight", 16, 40), "blk.0.attn_qkv.weight has shape [16 40], want [16 48]"},
		{"phi3 unfused up", specNamed(t, "phi3"), reshape("blk.0.ffn_up.weight", 16, 32), "blk.0.ffn_up.weight has shape [16 32], want [16 64]"},
		{"gemma2 missing post norm", specNamed(t, "gemma2"), drop("blk.1.post_ffw_norm.weight"), `"blk.1.post_ffw_norm.weight": not found`},
		{"gemma3 wrong embedding", specNamed(t, "gemma3"), reshape("token_embd.weight", 15, 24), "token_embd.weight has shape [15 24], want [16 24]"},
		{"olmo2 missing post norm", specNamed(t, "olmo2"), drop("blk.0.post_attention_norm.weight"), `"blk.0.post_attention_norm.weight": not found`},
		{"olmo2 3-d tensor", specNamed(t, "olmo2"), reshape("blk.0.attn_v.weight", 16, 16, 1), "blk.0.attn_v.weight has shape [16 16 1], want [16 16]"},
		{"granite without logit_scale", withKeys(specNamed(t, "granite"), nil, "logit_scale"), nil, "granite.logit_scale: not found"},
		{"granite zero residual_scale", withKeys(specNamed(t, "granite"), map[string]any{"residual_scale": float32(0)}), nil, "granite.residual_scale = 0, want a positive number"},
		{"gemma2 string softcap", withKeys(specNamed(t, "gemma2"), map[string]any{"attn_logit_softcapping": "big"}), nil, "gemma2.attn_logit_softcapping"},
		{"gemma2 NaN softcap", withKeys(specNamed(t, "gemma2"), map[string]any{"final_logit_softcapping": float32(nanf())}), nil, "not a finite number"},
		{"qwen3moe experts misshapen", specNamed(t, "qwen3moe"), reshape("blk.1.ffn_up_exps.weight", 16, 32, 3), "blk.1.ffn_up_exps.weight has shape [16 32 3], want [16 32 4]"},
		{"qwen3moe router missing", specNamed(t, "qwen3moe"), drop("blk.0.ffn_gate_inp.weight"), `"blk.0.ffn_gate_inp.weight": not found`},
		{"qwen3moe too many used", withKeys(specNamed(t, "qwen3moe"), map[string]any{"expert_used_count": uint32(5)}), nil, "expert_used_count 5 of expert_count 4 is not possible"},
		{"numeric rope scaling type", withKeys(specNamed(t, "llama"), map[string]any{"rope.scaling.type": uint32(1)}), nil, "llama.rope.scaling.type"},
		{"yarn rope scaling", withKeys(specNamed(t, "llama"), map[string]any{"rope.scaling.type": "yarn"}), nil, `RoPE scaling "yarn" is not supported`},
		{"value length", withKeys(specNamed(t, "qwen3"), map[string]any{"attention.value_length": uint32(16)}), nil, "value_length 16 differs from key_length 8"},
		{"huge head count", withKeys(specNamed(t, "llama"), map[string]any{"attention.head_count": uint32(1 << 30)}), nil, "llama.attention.head_count = 1073741824 is out of range"},
		{"rope wider than a head", withKeys(specNamed(t, "phi3"), map[string]any{"rope.dimension_count": uint32(20)}), nil, "RoPE over 20 of each head's 8 values"},
		{"phi3 short factors", specNamed(t, "phi3-longrope"), drop("rope_factors_short.weight"), ""}, // long alone loads
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := load(synthBytes(t, tc.spec, tc.edit))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}

	t.Run("unknown architecture", func(t *testing.T) {
		s := specNamed(t, "llama")
		s.Arch = "mamba"
		err := load(synthBytes(t, s, nil))
		if err == nil || !strings.Contains(err.Error(), `architecture "mamba" is not supported (supported: gemma2, gemma3, granite, llama, olmo2, olmoe, phi3, qwen2, qwen3, qwen3moe)`) {
			t.Fatalf("err = %v", err)
		}
	})

	// Every prefix of a file fails with an error (the header, metadata or
	// tensor data is cut short), never a panic.
	t.Run("truncated", func(t *testing.T) {
		for _, s := range synth.Specs {
			b := synthBytes(t, s.Tiny(), nil)
			for n := 0; n < len(b); n += 1 + n/64 {
				if err := load(b[:n]); err == nil {
					t.Fatalf("%s cut to %d of %d bytes loads", s.Name, n, len(b))
				}
			}
		}
	})

	// A tensor type the reader does not know is named; one it knows but
	// the kernels cannot compute is named with its tensor.
	t.Run("tensor types", func(t *testing.T) {
		b := synthBytes(t, specNamed(t, "qwen2"), nil)
		err := load(setTensorType(t, b, "blk.0.attn_v.weight", 200))
		if err == nil || !strings.Contains(err.Error(), "200") {
			t.Fatalf("unknown type: err = %v", err)
		}
		for typ := ggml.Type(0); typ < 64; typ++ {
			if !typ.Known() || kernels.Supported(typ) {
				continue
			}
			// The data size must still match the new type for the reader,
			// so only types whose blocks fit F32's 4 bytes per element
			// get this far; any other fails earlier, also with an error.
			err := load(setTensorType(t, b, "blk.0.attn_v.weight", uint32(typ)))
			if err == nil {
				t.Fatalf("type %s loads", typ)
			}
		}
	})
}

// setTensorType rewrites the type of tensor name in a GGUF file's header.
func setTensorType(t *testing.T, b []byte, name string, typ uint32) []byte {
	b = bytes.Clone(b)
	key := binary.LittleEndian.AppendUint64(nil, uint64(len(name)))
	key = append(key, name...)
	i := bytes.Index(b, key)
	if i < 0 {
		t.Fatalf("no tensor %s", name)
	}
	i += len(key)
	nd := int(binary.LittleEndian.Uint32(b[i:]))
	binary.LittleEndian.PutUint32(b[i+4+8*nd:], typ)
	return b
}

func nanf() float32 { var z float32; return z / z }
