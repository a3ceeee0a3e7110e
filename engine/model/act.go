package model

import (
	"math"
	"sync"

	"github.com/runnel/runnel/engine/kernels"
)

// geluMul sets a[i] = gelu(a[i]) · b[i], GELU in its tanh form computed as
// ggml's CPU backend does: the input rounded to half precision and looked
// up in a table of half-precision results, identity above 10 and zero
// below -10. llama.cpp (and so Ollama) run Gemma this way; computing GELU
// in full precision instead moves logits by ~1e-3, enough to change a
// greedy token now and then.
func geluMul(a, b []float32) {
	geluOnce.Do(initGELU)
	b = b[:len(a)]
	for i, x := range a {
		switch {
		case x <= -10:
			a[i] = 0
		case x >= 10:
			a[i] = x * b[i]
		default:
			a[i] = geluTable[kernels.F32ToF16(x)] * b[i]
		}
	}
}

var (
	geluOnce  sync.Once
	geluTable []float32 // half-precision input bits → GELU, rounded to half
)

func initGELU() {
	const sqrt2OverPi, coefA = float32(0.79788456080286535587989211986876), float32(0.044715)
	geluTable = make([]float32, 1<<16)
	for h := range geluTable {
		x := kernels.F16ToF32(uint16(h))
		g := 0.5 * x * (1 + float32(math.Tanh(float64(sqrt2OverPi*x*(1+coefA*x*x)))))
		geluTable[h] = kernels.F16ToF32(kernels.F32ToF16(g))
	}
}

// softcap sets x[i] = cap·tanh(x[i]/cap), which bounds x to (-cap, cap).
func softcap(x []float32, cap float32) {
	inv := 1 / cap
	for i, v := range x {
		x[i] = cap * float32(math.Tanh(float64(v*inv)))
	}
}

// scale multiplies x by s.
func scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}
