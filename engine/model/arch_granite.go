package model

// granite: IBM Granite 3, llama with four multipliers: on the embeddings
// (embedding_scale), on q·k instead of 1/√headSize (attention.scale), on
// each sub-layer's output before the residual add (residual_scale), and a
// divisor of the logits (logit_scale). llama.cpp requires all four.
func init() {
	register("granite", &Arch{Setup: func(l *Loader) error {
		m := l.M
		m.embedScale = l.MustFloat("embedding_scale")
		m.attnScale = l.MustFloat("attention.scale")
		m.residualScale = l.MustFloat("residual_scale")
		m.logitScale = l.MustFloat("logit_scale")
		return requirePositive(l, map[string]float32{"embedding_scale": m.embedScale,
			"attention.scale": m.attnScale, "residual_scale": m.residualScale, "logit_scale": m.logitScale})
	}})
}
