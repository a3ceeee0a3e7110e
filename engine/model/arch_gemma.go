package model

import (
	"fmt"
	"math"
)

// gemma2: Google's Gemma 2. Its embeddings are scaled by √dim, its norms
// sandwich each sub-layer (attn_norm, post_attention_norm, ffn_norm,
// post_ffw_norm), its feed-forward gates with GELU, attention scores and
// logits are soft-capped (attn_logit_softcapping, 50, and
// final_logit_softcapping, 30, by default), and every even layer attends
// over a sliding window (attention.sliding_window, 4096 by default).
// Gemma's RMSNorm multiplies by 1+w; llama.cpp's converter stores 1+w, so
// the norms here are plain.
func init() {
	register("gemma2", &Arch{Neox: true, Norms: SandwichNorm, GELU: true, Setup: func(l *Loader) error {
		m := l.M
		gemmaScales(l)
		m.attnSoftcap = l.Float("attn_logit_softcapping", 50)
		m.finalSoftcap = l.Float("final_logit_softcapping", 30)
		l.SlidingWindow(l.Int("attention.sliding_window", 4096), func(i int) bool { return i%2 == 0 })
		return requirePositive(l, map[string]float32{"attn_logit_softcapping": m.attnSoftcap, "final_logit_softcapping": m.finalSoftcap})
	}})

	// gemma3: Gemma 3 (text). As Gemma 2, without attention soft-capping
	// and with per-head q/k norms; five layers in six attend over a
	// sliding window, and those layers rotate with base 10000 and no
	// scaling, while the global layers use rope.freq_base and
	// rope.scaling. final_logit_softcapping applies only when given.
	register("gemma3", &Arch{Neox: true, Norms: SandwichNorm, QKNorm: true, GELU: true, Setup: func(l *Loader) error {
		m := l.M
		gemmaScales(l)
		m.finalSoftcap = l.Float("final_logit_softcapping", 0)
		if l.Has("attention.sliding_window") {
			local := len(m.rope)
			m.rope = append(m.rope, ropeSpec{base: 10000})
			sliding := func(i int) bool { return i%6 < 5 }
			l.SlidingWindow(l.Int("attention.sliding_window", -1), sliding)
			for i := range m.blocks {
				if sliding(i) {
					m.blocks[i].rope = local
				}
			}
		}
		if m.finalSoftcap < 0 {
			return fmt.Errorf("model: gemma3.final_logit_softcapping = %v is negative", m.finalSoftcap)
		}
		return l.err
	}})
}

// gemmaScales sets what Gemma 2 and 3 share: embeddings times √dim, and
// q·k scaled by 1/√headSize except in the 27B models, which use
// 1/√(dim/heads). GGUF files do not carry Gemma's query_pre_attn_scalar,
// so llama.cpp tells the 27B models by their layer count (46 for Gemma 2,
// 62 for Gemma 3), and so does this.
func gemmaScales(l *Loader) {
	m := l.M
	m.embedScale = float32(math.Sqrt(float64(m.Dim)))
	if (l.Arch == "gemma2" && m.Layers == 46) || (l.Arch == "gemma3" && m.Layers == 62) {
		m.attnScale = float32(1 / math.Sqrt(float64(m.Dim/m.Heads)))
	}
}
