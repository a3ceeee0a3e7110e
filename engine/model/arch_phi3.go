package model

// phi3: Phi-3 and Phi-4, llama with q, k and v in one attn_qkv tensor,
// gate and up in one ffn_up tensor, and NeoX rotation. Files carry an
// attention.sliding_window, but current llama.cpp ignores it (its
// converters fill it in wrongly for some Phi models, llama.cpp PR 13676),
// and so does this: every layer attends over the whole context, as in
// Ollama. Early-2025 llama.cpp applied it to every layer.
func init() {
	register("phi3", &Arch{Neox: true, FusedQKV: true, FusedUp: true, Setup: func(l *Loader) error {
		if _, err := l.f.Tensor("rope_factors_long.weight"); err == nil {
			return errLongRope
		}
		return nil
	}})
}
