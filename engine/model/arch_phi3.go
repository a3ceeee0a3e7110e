package model

// phi3: Phi-3 and Phi-4, llama with q, k and v in one attn_qkv tensor,
// gate and up in one ffn_up tensor, and NeoX rotation. Files carry an
// attention.sliding_window, but current llama.cpp ignores it (its
// converters fill it in wrongly for some Phi models, llama.cpp PR 13676),
// and so does this: every layer attends over the whole context, as in
// Ollama. Early-2025 llama.cpp applied it to every layer. Long-context
// files (Phi-3.5, Phi-4-mini) carry rope_factors_long and _short and a
// rope.scaling.attn_factor, which the shared loader reads; Phi-4-mini
// rotates only part of each head (rope.dimension_count).
func init() { register("phi3", &Arch{Neox: true, FusedQKV: true, FusedUp: true}) }
