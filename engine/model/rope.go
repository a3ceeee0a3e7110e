package model

import "math"

// ropeSpec says how one table of rotary frequencies is made. Most models
// have one; Gemma 3 has a second, with another base, for its sliding-window
// layers.
type ropeSpec struct {
	base    float32   // frequency base θ
	scale   float32   // linear position scaling, 1/factor (0: none)
	factors []float32 // per-pair divisors of the frequencies (Llama 3.1's rope_freqs), or nil
	// Phi-3's long-context files carry two sets of factors: long when a
	// sequence may be longer than origCtx positions, else factors (short),
	// as llama.cpp chooses by its context size.
	long    []float32
	origCtx int
	// mscale multiplies the cosines and sines (rope.scaling.attn_factor),
	// so both q and k (0: none).
	mscale float32
}

// ropeTable holds ropeDim/2 rotation frequencies: pair i of each head
// turns by pos·freq[i], and the rotation is scaled by mscale.
type ropeTable struct {
	freq   []float32
	mscale float32
}

// table computes the frequencies as llama2.c does, in float32: pair i
// rotates by pos / θ^(2i/ropeDim), then divided by its factor and
// multiplied by the scale, as ggml's rope applies them. seqLen is the
// context a sequence may fill, which picks Phi-3's factors.
func (r ropeSpec) table(ropeDim, seqLen int) ropeTable {
	factors := r.factors
	if r.long != nil && seqLen > r.origCtx {
		factors = r.long
	}
	f := make([]float32, ropeDim/2)
	for i := range f {
		f[i] = 1 / float32(math.Pow(float64(r.base), float64(float32(2*i)/float32(ropeDim))))
		if factors != nil {
			f[i] /= factors[i]
		}
		if r.scale != 0 {
			f[i] *= r.scale
		}
	}
	return ropeTable{freq: f, mscale: r.mscale}
}

// rope rotates the pairs (2i, 2i+1) of each head of hs values of vec by
// the angles whose cosines and sines are given, the first 2·len(cos)
// values of each head (all of them unless RoPE is partial): Meta's llama
// layout, which llama.cpp's converter keeps for llama files.
func rope(vec, cos, sin []float32, hs int) {
	half := len(cos)
	for h := 0; h+hs <= len(vec); h += hs {
		v := vec[h : h+2*half]
		for i := 0; i < half; i++ {
			v0, v1 := v[2*i], v[2*i+1]
			v[2*i] = v0*cos[i] - v1*sin[i]
			v[2*i+1] = v0*sin[i] + v1*cos[i]
		}
	}
}

// ropeNeox rotates each head's pairs (i, i+len(cos)): GPT-NeoX's and
// Hugging Face's layout, which Qwen, Phi, Gemma and OLMo files keep.
func ropeNeox(vec, cos, sin []float32, hs int) {
	half := len(cos)
	for h := 0; h+hs <= len(vec); h += hs {
		v0s, v1s := vec[h:h+half], vec[h+half:h+2*half]
		for i := range v0s {
			v0, v1 := v0s[i], v1s[i]
			v0s[i] = v0*cos[i] - v1*sin[i]
			v1s[i] = v0*sin[i] + v1*cos[i]
		}
	}
}
