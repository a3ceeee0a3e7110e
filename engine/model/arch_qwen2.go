package model

// qwen2: Qwen 2 and 2.5, llama with biases on the q, k and v projections
// and NeoX rotation.
func init() { register("qwen2", &Arch{Neox: true, QKVBias: true}) }
