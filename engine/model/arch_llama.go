package model

// llama: Meta's Llama 1–3 and the files shaped like them (Mistral 7B,
// TinyLlama, SmolLM, llama2.c conversions). Llama 3.1/3.2's rope scaling
// comes as the rope_freqs tensor, which the shared loader reads; Mistral
// Nemo's head size comes as attention.key_length.
//
// RoPE rotates adjacent pairs (2i, 2i+1) of each head, as llama2.c and
// Meta's original checkpoints do: llama.cpp's converter permutes Hugging
// Face's Q and K weights (which pair i with i+headSize/2) back into that
// layout, so GGUF llama files and llama2.c checkpoints share it and
// neither loading nor `runnel convert` permutes anything.
func init() { register("llama", &Arch{}) }
