// Package sampler picks the next token from a model's logits: greedy, or
// random with temperature, top-k, top-p and min-p, after an optional
// repetition penalty, from a seeded generator so that a seed reproduces a
// generation exactly.
package sampler

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Options configure a Sampler. Zero values turn each filter off.
type Options struct {
	// Temperature scales the logits; 0 (or less) means greedy argmax.
	Temperature float64
	// TopK keeps the K most likely tokens (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// adds up to at least P (0 or ≥ 1: all).
	TopP float64
	// MinP drops tokens less likely than MinP times the most likely one.
	MinP float64
	// RepeatPenalty divides positive logits (multiplies negative ones) of
	// tokens among the last RepeatLastN (0 or 1: off).
	RepeatPenalty float64
	RepeatLastN   int // default 64
	// Seed seeds the random generator.
	Seed uint64
}

// Sampler draws tokens. It keeps scratch space between calls and is not
// safe for concurrent use; each sequence has its own.
type Sampler struct {
	o    Options
	rng  *rand.Rand
	cand []candidate
}

type candidate struct {
	id int32
	p  float32 // logit, then probability
}

// New returns a Sampler with the given options.
func New(o Options) *Sampler {
	if o.RepeatLastN <= 0 {
		o.RepeatLastN = 64
	}
	return &Sampler{o: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
}

// Greedy reports whether the sampler always takes the most likely token.
func (s *Sampler) Greedy() bool { return s.o.Temperature <= 0 }

// Sample returns the next token. It modifies logits in place. recent is
// the sequence so far (prompt and output), for the repetition penalty.
func (s *Sampler) Sample(logits []float32, recent []int) int {
	if p := float32(s.o.RepeatPenalty); p > 0 && p != 1 {
		window := recent[max(0, len(recent)-s.o.RepeatLastN):]
		for i, t := range window {
			if t < 0 || t >= len(logits) || slices.Contains(window[:i], t) {
				continue // penalise each token once
			}
			if logits[t] > 0 {
				logits[t] /= p
			} else {
				logits[t] *= p
			}
		}
	}
	if s.Greedy() {
		return Argmax(logits)
	}
	c, sorted := s.candidates(logits)
	// Softmax with temperature over the candidates.
	inv := float32(1 / s.o.Temperature)
	top := c[0].p
	for _, x := range c {
		top = max(top, x.p)
	}
	var sum float32
	for i := range c {
		c[i].p = float32(math.Exp(float64((c[i].p - top) * inv)))
		sum += c[i].p
	}
	for i := range c {
		c[i].p /= sum
	}
	if !sorted {
		// All tokens are candidates. Before sorting them, drop those too
		// unlikely to be in any top-p set (as llama2.c does): with n
		// tokens, the ones below (1-p)/(n-1) cannot all be needed.
		if p := s.o.TopP; p > 0 && p < 1 && len(c) > 1 {
			cutoff := float32((1 - p) / float64(len(c)-1))
			c = slices.DeleteFunc(c, func(x candidate) bool { return x.p < cutoff })
		}
		slices.SortFunc(c, func(a, b candidate) int {
			switch {
			case a.p > b.p:
				return -1
			case a.p < b.p:
				return 1
			}
			return int(a.id - b.id) // ties by id: deterministic for a seed
		})
	}
	if p := float32(s.o.TopP); p > 0 && p < 1 {
		var cum float32
		for i := range c {
			cum += c[i].p
			if cum >= p {
				c = c[:i+1]
				break
			}
		}
	}
	if m := float32(s.o.MinP); m > 0 {
		floor := m * c[0].p
		for i := range c {
			if c[i].p < floor {
				c = c[:i]
				break
			}
		}
	}
	sum = 0
	for _, x := range c {
		sum += x.p
	}
	r := float32(s.rng.Float64()) * sum
	var cum float32
	for _, x := range c {
		cum += x.p
		if r < cum {
			return int(x.id)
		}
	}
	return int(c[len(c)-1].id) // rounding
}

// candidates returns the tokens that may be drawn with their logits: the
// top K, sorted most likely first, when TopK is set; else all of them,
// unsorted.
func (s *Sampler) candidates(logits []float32) (c []candidate, sorted bool) {
	c = s.cand[:0]
	k := s.o.TopK
	if k <= 0 || k >= len(logits) {
		for i, l := range logits {
			c = append(c, candidate{int32(i), l})
		}
		s.cand = c
		return c, false
	}
	// Keep the K largest in c, sorted descending, by insertion: most
	// logits are below the current K-th and cost one comparison.
	thr := float32(math.Inf(-1))
	for i, l := range logits {
		if l <= thr && len(c) == k {
			continue
		}
		j := len(c)
		if j < k {
			c = append(c, candidate{})
		} else {
			j = k - 1
		}
		for j > 0 && c[j-1].p < l {
			c[j] = c[j-1]
			j--
		}
		c[j] = candidate{int32(i), l}
		thr = c[len(c)-1].p
	}
	s.cand = c
	return c, true
}

// Argmax returns the index of the largest value, the first one on ties
// (NaNs are never the largest; a NaN first value gives 0).
//
// Greedy decoding runs it over every sequence's logits at every step
// (32,000 to 150,000 of them). Eight lanes (every eighth value) keep their
// own maximum and its first index, so their compares do not wait on one
// another as one running index made them (1.6-2x less CPU over 32,000
// logits); the lanes' results are then merged, the smaller index on ties,
// which is what one pass of strict compares finds.
//
// With AVX2 it takes two vector passes instead (argmaxTwoPass): the
// largest value, then the first index holding it.
func Argmax(x []float32) int {
	if i, ok := argmaxTwoPass(x); ok {
		return i
	}
	return argmaxLanes(x)
}

// argmaxTwoPass is Argmax as two AVX2 passes over x: its largest value
// (VMAXPS, eight lanes by four), then the first index whose value equals
// it (signed zeros compare equal, so the first of them, as one pass of
// strict compares finds). It reports false where it does not apply: no
// AVX2, fewer than 64 values, or a NaN among them (strict compares skip
// NaNs but keep a NaN first value, which VMAXPS does not).
func argmaxTwoPass(x []float32) (int, bool) {
	n := len(x) &^ 31
	if !argmaxAsm || n < 64 {
		return 0, false
	}
	m, nan := maxAVX2(&x[0], n)
	for _, v := range x[n:] {
		if v != v {
			nan = true
		}
		if v > m {
			m = v
		}
	}
	if nan {
		return 0, false
	}
	if i := firstEqualAVX2(&x[0], n, m); i < n {
		return i, true
	}
	for i := n; i < len(x); i++ {
		if x[i] == m {
			return i, true
		}
	}
	return 0, false // not reached: m is one of x
}

// argmaxLanes is Argmax in eight lanes of Go.
func argmaxLanes(x []float32) int {
	if len(x) == 0 {
		return 0
	}
	// Every lane starts at x[0], index 0: the value any larger one must
	// beat, as in one pass.
	m0 := x[0]
	m1, m2, m3, m4, m5, m6, m7 := m0, m0, m0, m0, m0, m0, m0
	var i0, i1, i2, i3, i4, i5, i6, i7 int
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		if v[0] > m0 {
			m0, i0 = v[0], i
		}
		if v[1] > m1 {
			m1, i1 = v[1], i+1
		}
		if v[2] > m2 {
			m2, i2 = v[2], i+2
		}
		if v[3] > m3 {
			m3, i3 = v[3], i+3
		}
		if v[4] > m4 {
			m4, i4 = v[4], i+4
		}
		if v[5] > m5 {
			m5, i5 = v[5], i+5
		}
		if v[6] > m6 {
			m6, i6 = v[6], i+6
		}
		if v[7] > m7 {
			m7, i7 = v[7], i+7
		}
	}
	for ; i < len(x); i++ {
		if x[i] > m0 {
			m0, i0 = x[i], i
		}
	}
	m := [8]float32{m0, m1, m2, m3, m4, m5, m6, m7}
	at := [8]int{i0, i1, i2, i3, i4, i5, i6, i7}
	best := 0
	for l := 1; l < 8; l++ {
		if m[l] > m[best] || (m[l] == m[best] && at[l] < at[best]) {
			best = l
		}
	}
	return at[best]
}
