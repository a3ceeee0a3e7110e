package model

// phi3: Phi-3 and Phi-4, llama with q, k and v in one attn_qkv tensor,
// gate and up in one ffn_up tensor, NeoX rotation, and a sliding window
// (attention.sliding_window) on every layer when the file gives one.
func init() {
	register("phi3", &Arch{Neox: true, FusedQKV: true, FusedUp: true, Setup: func(l *Loader) error {
		if l.Has("attention.sliding_window") {
			l.SlidingWindow(l.Int("attention.sliding_window", -1), func(int) bool { return true })
		}
		if _, err := l.f.Tensor("rope_factors_long.weight"); err == nil {
			return errLongRope
		}
		return nil
	}})
}
