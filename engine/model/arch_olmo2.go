package model

// olmo2: AI2's OLMo 2, llama with its norms after each sub-layer instead
// of before (post_attention_norm, post_ffw_norm), queries and keys
// RMS-normalised over their whole width before RoPE, and NeoX rotation.
func init() { register("olmo2", &Arch{Neox: true, Norms: PostNorm, QKNorm: true}) }
