package sampler

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// logitsOf returns logits whose softmax is probs.
func logitsOf(probs ...float64) []float32 {
	l := make([]float32, len(probs))
	for i, p := range probs {
		l[i] = float32(math.Log(p))
	}
	return l
}

// freq draws n tokens and returns each token's share.
func freq(s *Sampler, logits []float32, n int) []float64 {
	f := make([]float64, len(logits))
	buf := make([]float32, len(logits))
	for i := 0; i < n; i++ {
		copy(buf, logits)
		f[s.Sample(buf, nil)]++
	}
	for i := range f {
		f[i] /= float64(n)
	}
	return f
}

func TestGreedy(t *testing.T) {
	s := New(Options{Temperature: 0, TopK: 1, Seed: 1})
	for _, tc := range []struct {
		logits []float32
		want   int
	}{
		{[]float32{0, 3, 2}, 1},
		{[]float32{-5, -1, -1}, 1}, // ties go to the first
		{[]float32{7}, 0},
	} {
		if got := s.Sample(slices.Clone(tc.logits), nil); got != tc.want {
			t.Errorf("Sample(%v) = %d, want %d", tc.logits, got, tc.want)
		}
	}
}

func TestFilters(t *testing.T) {
	probs := logitsOf(0.1, 0.5, 0.2, 0.15, 0.05) // sorted: 1, 2, 3, 0, 4
	const n = 20000
	for _, tc := range []struct {
		name string
		o    Options
		want []float64 // expected shares
	}{
		{"plain", Options{Temperature: 1}, []float64{0.1, 0.5, 0.2, 0.15, 0.05}},
		{"top_k 2", Options{Temperature: 1, TopK: 2}, []float64{0, 0.5 / 0.7, 0.2 / 0.7, 0, 0}},
		{"top_k 1", Options{Temperature: 1, TopK: 1}, []float64{0, 1, 0, 0, 0}},
		{"top_p 0.8", Options{Temperature: 1, TopP: 0.8}, []float64{0, 0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0}},
		{"top_p 0.5", Options{Temperature: 1, TopP: 0.5}, []float64{0, 1, 0, 0, 0}},
		{"min_p 0.25", Options{Temperature: 1, MinP: 0.25}, []float64{0, 0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0}},
		{"min_p 0.5", Options{Temperature: 1, MinP: 0.5}, []float64{0, 1, 0, 0, 0}},
		{"top_k 3 top_p 0.6", Options{Temperature: 1, TopK: 3, TopP: 0.6}, []float64{0, 0.5 / 0.7, 0.2 / 0.7, 0, 0}},
		{"cold", Options{Temperature: 0.01}, []float64{0, 1, 0, 0, 0}},
		// Temperature 2 flattens: p ∝ sqrt(p).
		{"hot", Options{Temperature: 2}, sqrtShares(0.1, 0.5, 0.2, 0.15, 0.05)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Seed = 42
			got := freq(New(tc.o), probs, n)
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 0.015 {
					t.Fatalf("shares %.3f, want %.3f", got, tc.want)
				}
			}
		})
	}
}

func sqrtShares(p ...float64) []float64 {
	var sum float64
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = math.Sqrt(v)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func TestRepeatPenalty(t *testing.T) {
	s := New(Options{RepeatPenalty: 2})
	if got := s.Sample([]float32{2, 1.9}, []int{0, 0, 0}); got != 1 {
		t.Errorf("positive logit not penalised: got %d", got)
	}
	if got := s.Sample([]float32{-1, -1.5}, []int{0}); got != 1 {
		t.Errorf("negative logit not penalised: got %d", got)
	}
	// Penalised once however often it repeats: 3/2 = 1.5 still beats 1.4.
	if got := s.Sample([]float32{3, 1.4}, []int{0, 0, 0, 0}); got != 0 {
		t.Errorf("penalty applied more than once: got %d", got)
	}
	// Outside the window, no penalty.
	s = New(Options{RepeatPenalty: 2, RepeatLastN: 2})
	if got := s.Sample([]float32{2, 1.9}, []int{0, 5, 6}); got != 0 {
		t.Errorf("token outside the window penalised: got %d", got)
	}
}

func TestSeedReproducible(t *testing.T) {
	logits := logitsOf(0.2, 0.2, 0.2, 0.2, 0.2)
	draw := func(seed uint64) []int {
		s := New(Options{Temperature: 1, TopK: 40, TopP: 0.9, Seed: seed})
		var out []int
		for i := 0; i < 50; i++ {
			out = append(out, s.Sample(slices.Clone(logits), out))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different tokens:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("seeds 7 and 8 drew the same 50 tokens %v", a)
	}
}

func TestTopKLargeVocab(t *testing.T) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32((i * 7919) % 32000)
	}
	s := New(Options{Temperature: 1, TopK: 3})
	c, _ := s.candidates(logits)
	var ids []int
	for _, x := range c {
		ids = append(ids, int(x.id))
	}
	// The three largest values 31999, 31998, 31997.
	want := []int{}
	for _, v := range []float32{31999, 31998, 31997} {
		want = append(want, slices.Index(logits, v))
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("top 3 = %v, want %v", ids, want)
	}
}

func BenchmarkSampleTopP(b *testing.B) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i))) * 5
	}
	s := New(Options{Temperature: 1, TopP: 0.9, Seed: 1})
	buf := make([]float32, len(logits))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, logits)
		s.Sample(buf, nil)
	}
}

func BenchmarkSampleTopK40(b *testing.B) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	s := New(Options{Temperature: 1, TopK: 40, TopP: 0.9, Seed: 1})
	buf := make([]float32, len(logits))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, logits)
		s.Sample(buf, nil)
	}
}

// argmaxOnePass is Argmax as one pass of strict compares.
func argmaxOnePass(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestArgmaxMatchesOnePass: Argmax, its Go lanes and (with AVX2) its two
// vector passes return what one pass of strict compares does, on lengths
// around the lanes' width and the vector passes' 32-value steps, with
// ties (the first wins), signed zeros, infinities and NaNs.
func TestArgmaxMatchesOnePass(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	specials := []float32{nan, inf, -inf, 0, float32(math.Copysign(0, -1)), 1, 1, -1}
	twoPass := 0
	for n := 0; n <= 200; n++ {
		for trial := range 200 {
			x := make([]float32, n)
			for i := range x {
				switch {
				case trial%8 == 0:
					x[i] = specials[rng.IntN(len(specials))]
				case trial%8 == 1:
					x[i] = specials[1+rng.IntN(len(specials)-1)] // no NaN: the vector passes run
				case trial%8 == 2:
					x[i] = float32(math.Copysign(0, float64(rng.IntN(2)-1))) // only signed zeros
				case trial%8 == 3:
					x[i] = float32(rng.IntN(3)) // many ties
				default:
					x[i] = float32(rng.NormFloat64())
				}
			}
			checkArgmax(t, x)
			if _, ok := argmaxTwoPass(x); ok {
				twoPass++
			}
		}
	}
	if argmaxAsm && twoPass == 0 {
		t.Fatal("the vector passes never ran")
	}
	big := make([]float32, 32000)
	for i := range big {
		big[i] = float32(math.Sin(float64(i) * 0.37))
	}
	big[31999], big[7] = 2, 2 // a tie between lanes: the first wins
	if got := Argmax(big); got != 7 {
		t.Fatalf("Argmax = %d, want 7", got)
	}
}

// checkArgmax checks Argmax, argmaxLanes and argmaxTwoPass (where it
// applies) on x against one pass of strict compares.
func checkArgmax(t *testing.T, x []float32) {
	t.Helper()
	want := argmaxOnePass(x)
	if got := Argmax(x); got != want {
		t.Fatalf("Argmax(%v) = %d, one pass %d", x, got, want)
	}
	if got := argmaxLanes(x); got != want {
		t.Fatalf("argmaxLanes(%v) = %d, one pass %d", x, got, want)
	}
	if got, ok := argmaxTwoPass(x); ok && got != want {
		t.Fatalf("argmaxTwoPass(%v) = %d, one pass %d", x, got, want)
	}
}

// FuzzArgmax checks Argmax's paths against one pass of strict compares on
// any values (four bytes each), NaNs, infinities and signed zeros included.
func FuzzArgmax(f *testing.F) {
	f.Add(make([]byte, 4*70))
	f.Add(bytes.Repeat([]byte{0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x7f, 0, 0, 0, 0x80, 1, 2, 3, 4}, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		x := make([]float32, len(b)/4)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		checkArgmax(t, x)
	})
}

// BenchmarkArgmax is a greedy draw over a 32,000-token vocabulary; the
// laned Go loop the AVX2 passes replaced is "lanes", the one-pass loop
// that replaced is "one-pass".
func BenchmarkArgmax(b *testing.B) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)*0.37)) * 5
	}
	logits[20000] = 7
	for _, c := range []struct {
		name string
		f    func([]float32) int
	}{{"argmax", Argmax}, {"lanes", argmaxLanes}, {"one-pass", argmaxOnePass}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f(logits)
			}
		})
	}
}
