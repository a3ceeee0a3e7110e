package model

// olmoe: AI2's OLMoE, llama with queries and keys RMS-normalised over
// their whole width before RoPE, NeoX rotation, and a mixture of experts
// in place of each feed-forward whose chosen experts keep the router's
// probabilities as weights (not renormalised).
func init() { register("olmoe", &Arch{Neox: true, QKNorm: true, MoE: true}) }
