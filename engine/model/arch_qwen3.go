package model

// qwen3: Qwen 3, llama with each head's query and key RMS-normalised
// (attn_q_norm, attn_k_norm) before RoPE, NeoX rotation and a head size
// of its own (attention.key_length).
func init() { register("qwen3", &Arch{Neox: true, QKNorm: true}) }
