package model

// qwen3moe: Qwen 3's mixture-of-experts models (Qwen3-30B-A3B, 235B-A22B),
// qwen3's attention with a mixture of experts in place of each
// feed-forward, the chosen experts' weights renormalised (as llama.cpp
// does for this architecture).
func init() { register("qwen3moe", &Arch{Neox: true, QKNorm: true, MoE: true, NormTopK: true}) }
