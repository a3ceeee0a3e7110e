package synth

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/model"
)

// TestWriteGGUF writes the 15M shape in both mixes and runs a step of it.
// Its 288-wide rows are not whole 256-element blocks, so the Q4_K_M file
// carries llama-quantize's fallbacks (Q5_0 for Q4_K, Q8_0 for Q6_K) beside
// the K-quants of the 768-wide ffn_down: such a file must load and run.
func TestWriteGGUF(t *testing.T) {
	for _, c := range []struct {
		mix  string
		want map[ggml.Type]int
	}{
		{"q8_0", map[ggml.Type]int{ggml.Q8_0: 1 + 6*7}},
		// token_embd Q8_0 (Q6_K's fallback); per layer q, k, o, gate, up
		// Q5_0; v Q8_0 or Q5_0; down Q6_K or Q4_K, by use_more_bits:
		// of 6 layers, 2 and 5 get more bits (i ≥ 7n/8 or (i-n/8)%3 == 2).
		{"q4_k_m", map[ggml.Type]int{ggml.Q8_0: 1 + 2, ggml.Q5_0: 6*5 + 4, ggml.Q6_K: 2, ggml.Q4_K: 4}},
	} {
		path := filepath.Join(t.TempDir(), "m.gguf")
		rep, err := WriteGGUF(path, Shapes[0], c.mix, 1)
		if err != nil {
			t.Fatal(err)
		}
		for typ, n := range c.want {
			if rep.Types[typ] != n {
				t.Errorf("%s: %d %s matrices, want %d (all: %v)", c.mix, rep.Types[typ], typ, n, rep.Types)
			}
		}
		m, f, err := model.OpenGGUF(path)
		if err != nil {
			t.Fatalf("%s: %v", c.mix, err)
		}
		for name, typ := range map[string]ggml.Type{"token_embd.weight": ggml.Q8_0, "blk.0.attn_q.weight": ggml.Q5_0} {
			if tn, err := f.Tensor(name); err != nil || (tn.Type != typ && c.mix == "q4_k_m") {
				t.Errorf("%s: %s is %v (%v), want %s", c.mix, name, tn.Type, err, typ)
			}
		}
		b := m.NewBatch(1)
		s := m.NewSequence()
		es := []model.Entry{{Seq: s, Token: 1, WantLogits: true}}
		for step := range 3 {
			if err := b.Step(es); err != nil {
				t.Fatal(err)
			}
			for i, v := range es[0].Logits {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s step %d: logit %d is %v", c.mix, step, i, v)
				}
			}
			es[0].Token = 300 + step
		}
		m.Close()
	}
}
