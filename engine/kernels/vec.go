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
func Softmax(x []float32) { softmax(x, 1) }

// ScaledSoftmax sets x to the softmax of x·scale: the same bits as
// multiplying every value by scale and then calling Softmax (attention's
// scores, scaled by 1/√headSize), in one pass fewer.
func ScaledSoftmax(x []float32, scale float32) { softmax(x, scale) }

func softmax(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	// The values are scaled (where the vector kernel does not multiply,
	// only when scale is not 1: x·1 is x anyway) and their maximum taken
	// with a plain comparison, not the max builtin: max must order ±0 and
	// propagate NaN, which costs branches on every element of attention's
	// scores; for softmax the two agree (a NaN score poisons the sum
	// either way, and x-(+0) and x-(-0) have the same exponential). The
	// vector kernel's maximum is exact too, in any order.
	var mx float32
	i := 0
	if vectorSoftmax {
		mx, i = scaleMaxArch(x, scale)
	}
	if i == 0 {
		if scale != 1 {
			x[0] *= scale
		}
		mx, i = x[0], 1
	}
	for ; i < len(x); i++ {
		if scale != 1 {
			x[i] *= scale
		}
		if x[i] > mx {
			mx = x[i]
		}
	}
	inv := 1 / expSum(x, mx)
	i = 0
	if vectorSoftmax {
		i = scaleArch(x, inv)
	}
	for ; i < len(x); i++ {
		x[i] *= inv
	}
}

// vectorSoftmax turns softmax's vector passes (the scaling and maximum,
// the normalising) on; only benchmarks turn them off, to compare in one
// process.
var vectorSoftmax = true

// SetVectorSoftmax turns Softmax's and ScaledSoftmax's vector passes on
// or off and reports whether they were on; the results are the same bits
// either way. Call it only while no softmax runs.
func SetVectorSoftmax(on bool) bool {
	was := vectorSoftmax
	vectorSoftmax = on
	return was
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
