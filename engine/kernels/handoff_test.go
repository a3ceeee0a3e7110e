package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// BenchmarkHandOff times, with the pool held as during a step: an empty
// parallel job (one hand-off to the helpers and the wait for them, alone),
// and a 15M-shaped layer's one-vector products (Q8_0, dim 288, hidden 768)
// one job each against fused (queries, keys and values in one job; gate,
// up and SiLU in one).
func BenchmarkHandOff(b *testing.B) {
	var h Hold
	h.Acquire()
	defer h.Release()
	b.Run("empty", func(b *testing.B) {
		for b.Loop() {
			Parallel(8, math.MaxInt32, func(lo, hi int) {})
		}
	})
	r := rand.New(rand.NewPCG(11, 12))
	const dim, hidden = 288, 768
	var wqkv [3]*Matrix
	var qkv [3][]float32
	for i := range wqkv {
		wqkv[i], qkv[i] = randMatrix(r, ggml.Q8_0, dim, dim), make([]float32, dim)
	}
	gate, up := randMatrix(r, ggml.Q8_0, hidden, dim), randMatrix(r, ggml.Q8_0, hidden, dim)
	g, u := make([]float32, hidden), make([]float32, hidden)
	var a Acts
	a.Set(randVec(r, dim, 1), 1)
	b.Run("qkv/separate", func(b *testing.B) {
		for b.Loop() {
			for i := range wqkv {
				MatMulActs(qkv[i], wqkv[i], &a)
			}
		}
	})
	b.Run("qkv/fused", func(b *testing.B) {
		for b.Loop() {
			MatMulActsFused(&a, qkv, wqkv)
		}
	})
	b.Run("gateup/separate", func(b *testing.B) {
		for b.Loop() {
			MatMulActs(g, gate, &a)
			MatMulActs(u, up, &a)
			SiLUMul(g, u)
		}
	})
	b.Run("gateup/fused", func(b *testing.B) {
		for b.Loop() {
			MatMulActsGated(g, gate, u, up, &a, SiLUMul)
		}
	})
}
