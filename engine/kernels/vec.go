package kernels

import "math"

// Dot returns a·b over len(a) elements; b must be at least as long.
func Dot(a, b []float32) float32 { return dotF32(a, b) }

// Axpy sets y[i] += a*x[i] for i < len(x) (attention's weighted sum of values).
func Axpy(y []float32, a float32, x []float32) { axpy(y[:len(x)], a, x) }

func axpyGo(y []float32, a float32, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// RMSNorm sets dst = x / sqrt(mean(x²) + eps) * w, elementwise.
func RMSNorm(dst, x, w []float32, eps float32) {
	ss := dotF32(x, x)
	s := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	dst, w = dst[:len(x)], w[:len(x)]
	for i, v := range x {
		dst[i] = w[i] * (s * v)
	}
}

// Softmax replaces x with its softmax, computed stably.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// SiLUMul sets a[i] = silu(a[i]) * b[i], the SwiGLU gate of the feed-forward.
func SiLUMul(a, b []float32) {
	b = b[:len(a)]
	for i, v := range a {
		a[i] = v / (1 + float32(math.Exp(float64(-v)))) * b[i]
	}
}
