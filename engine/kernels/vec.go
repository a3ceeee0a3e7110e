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
	// A plain comparison, not the max builtin: max must order ±0 and
	// propagate NaN, which costs branches on every element of attention's
	// scores; for softmax the two agree (a NaN score poisons the sum
	// either way).
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	inv := 1 / expSum(x, mx)
	for i := range x {
		x[i] *= inv
	}
}

// SiLUMul sets a[i] = silu(a[i]) * b[i], the SwiGLU gate of the feed-forward.
func SiLUMul(a, b []float32) { siluMul(a, b) }

func siluMulGo(a, b []float32) {
	b = b[:len(a)]
	for i, v := range a {
		a[i] = v / (1 + expf(-v)) * b[i]
	}
}

// expf is e^x in float32 arithmetic (Cephes' expf: reduce by n·ln2 split in
// two constants, then a degree-6 polynomial), within about 2 ulp of the
// exact value, and several times cheaper than math.Exp's float64 path in the
// attention softmax, where it is called pos+1 times per head per layer.
func expf(x float32) float32 {
	switch {
	case x > 88.37626: // keeps 2^n finite; e^x overflows soon after anyway
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0 // below the smallest normal; the softmax sum is ≥ 1 anyway
	case x != x:
		return x
	}
	// n = x/ln2 rounded to nearest (by truncation away from zero), so the
	// remainder r stays within ±ln2/2, where the polynomial is accurate.
	t := x * 1.442695041
	var ni int32
	if t >= 0 {
		ni = int32(t + 0.5)
	} else {
		ni = int32(t - 0.5)
	}
	n := float32(ni)
	r := x - n*0.693359375 + n*2.12194440e-4
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	y := p*z + r + 1
	return y * math.Float32frombits(uint32(ni+127)<<23)
}

// expSumGo sets x[i] = e^(x[i]-sub) and returns the sum.
func expSumGo(x []float32, sub float32) float32 {
	var sum float32
	for i, v := range x {
		e := expf(v - sub)
		x[i] = e
		sum += e
	}
	return sum
}
