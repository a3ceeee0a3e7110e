package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// The expected values in these tests come from the block layout written out
// by hand (which byte and which bits hold element e), not from the decoder.

func TestHalfConversions(t *testing.T) {
	cases := []struct {
		h    uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 1.0 / (1 << 24)},
		{0x0400, 1.0 / (1 << 14)}, {0x03ff, 1023.0 / (1 << 24)}, {0x3555, 0.333251953125},
		{0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))}, {0x3800, 0.5},
	}
	for _, c := range cases {
		if got := F16ToF32(c.h); got != c.want {
			t.Errorf("F16ToF32(%#04x) = %v, want %v", c.h, got, c.want)
		}
		if got := F32ToF16(c.want); got != c.h {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", c.want, got, c.h)
		}
	}
	if !math.IsNaN(float64(F16ToF32(0x7e00))) || F16ToF32(0x8000) != 0 || !math.Signbit(float64(F16ToF32(0x8000))) {
		t.Error("NaN or -0 not preserved")
	}
	// Round to nearest even: 1 + 2^-11 is halfway between 1 and 1+2^-10.
	if got := F32ToF16(1 + 1.0/2048); got != 0x3c00 {
		t.Errorf("tie rounds to %#04x, want 0x3c00", got)
	}
	if got := F32ToF16(1 + 3.0/2048); got != 0x3c02 {
		t.Errorf("tie rounds to %#04x, want 0x3c02", got)
	}
	if got := F32ToF16(1e6); got != 0x7c00 {
		t.Errorf("overflow = %#04x, want +Inf", got)
	}
	// Every finite half survives a round trip through float32.
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f {
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("round trip %#04x -> %v -> %#04x", h, f, back)
		}
	}
	if BF16ToF32(0x3f80) != 1 || BF16ToF32(0xc0a0) != -5 || F32ToBF16(-5) != 0xc0a0 {
		t.Error("bf16 basics")
	}
	if got := F32ToBF16(math.Float32frombits(0x3f808000)); got != 0x3f80 { // tie to even
		t.Errorf("bf16 tie = %#04x", got)
	}
	if got := F32ToBF16(math.Float32frombits(0x3f818000)); got != 0x3f82 {
		t.Errorf("bf16 tie = %#04x", got)
	}
}

func putF16(b []byte, v uint16) { binary.LittleEndian.PutUint16(b, v) }

func dequant(t *testing.T, typ ggml.Type, src []byte, n int) []float32 {
	t.Helper()
	got := make([]float32, n)
	if err := Dequantize(got, typ, src); err != nil {
		t.Fatal(err)
	}
	return got
}

func expectEqual(t *testing.T, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestDequantizeScalarTypes(t *testing.T) {
	src := []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b}
	expectEqual(t, dequant(t, ggml.F16, src, 4), []float32{1, -2, 1.0 / (1 << 24), 65504})
	// bf16 is the top half of a float32: 0x3c00 = 2^-7, 0xc000 = -2,
	// 0x0001 = 2^-133 (subnormal), 0x7bff = 2^120 * (1 + 127/128).
	expectEqual(t, dequant(t, ggml.BF16, src, 4), []float32{1.0 / 128, -2,
		float32(math.Ldexp(1, -133)), float32(math.Ldexp(1+127.0/128, 120))})
	f := make([]byte, 8)
	binary.LittleEndian.PutUint32(f, math.Float32bits(1.5))
	binary.LittleEndian.PutUint32(f[4:], math.Float32bits(-3.25))
	expectEqual(t, dequant(t, ggml.F32, f, 2), []float32{1.5, -3.25})
}

func TestDequantizeQ8_0(t *testing.T) {
	blk := make([]byte, 34*2)
	putF16(blk, 0x3800) // 0.5
	putF16(blk[34:], 0xc400)
	for i := 0; i < 32; i++ {
		blk[2+i] = byte(int8(i - 16))
		blk[36+i] = byte(int8(127 - 8*i))
	}
	want := make([]float32, 64)
	for i := 0; i < 32; i++ {
		want[i] = 0.5 * float32(i-16)
		want[32+i] = -4 * float32(int8(127-8*i))
	}
	expectEqual(t, dequant(t, ggml.Q8_0, blk, 64), want)
}

func TestDequantizeQ4_0(t *testing.T) {
	blk := make([]byte, 18)
	putF16(blk, 0x3400) // 0.25
	for j := 0; j < 16; j++ {
		blk[2+j] = byte(j) | byte(15-j)<<4
	}
	want := make([]float32, 32)
	for j := 0; j < 16; j++ {
		want[j] = 0.25 * float32(j-8)
		want[j+16] = 0.25 * float32(15-j-8)
	}
	expectEqual(t, dequant(t, ggml.Q4_0, blk, 32), want)
}

// packQ4KScales packs eight 6-bit scales and mins: sub-blocks 0-3 keep theirs
// in the low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 keep
// their low 4 bits in bytes 8-11 (scale low nibble, min high nibble) and their
// top 2 bits in the top 2 bits of bytes 0-3 (scale) and 4-7 (min).
func packQ4KScales(sc, m [8]uint8) [12]byte {
	var s [12]byte
	for j := 0; j < 4; j++ {
		s[j] = sc[j] | (sc[j+4]>>4)<<6
		s[j+4] = m[j] | (m[j+4]>>4)<<6
		s[j+8] = sc[j+4]&15 | (m[j+4]&15)<<4
	}
	return s
}

func TestDequantizeQ4_K(t *testing.T) {
	var sc, mn [8]uint8
	for j := range sc {
		sc[j] = uint8(7*j+5) & 63 // spans values above 15 so the top bits matter
		mn[j] = uint8(63 - 9*j)
	}
	blk := make([]byte, 144)
	putF16(blk, 0x3c00)     // d = 1
	putF16(blk[2:], 0x3800) // dmin = 0.5
	s := packQ4KScales(sc, mn)
	copy(blk[4:16], s[:])
	q := func(e int) int { return (e*11 + 3) % 16 }
	// Element e sits in chunk c = e/64: byte 16+32c+(e%32), low nibble for the
	// first 32 of the chunk, high nibble for the second.
	for e := 0; e < 256; e++ {
		b := 16 + 32*(e/64) + e%32
		if e%64 < 32 {
			blk[b] |= byte(q(e))
		} else {
			blk[b] |= byte(q(e)) << 4
		}
	}
	want := make([]float32, 256)
	for e := range want {
		j := e / 32
		want[e] = 1*float32(sc[j])*float32(q(e)) - 0.5*float32(mn[j])
	}
	expectEqual(t, dequant(t, ggml.Q4_K, blk, 256), want)
}

func TestDequantizeQ6_K(t *testing.T) {
	blk := make([]byte, 210)
	q := func(e int) int { return (e*5 + 3) % 64 }
	// Element e: half h = e/128, r = e%128, quarter k = r/32, l = r%32.
	// Low 4 bits: ql[64h + l + 32(k&1)], low nibble if k < 2 else high.
	// High 2 bits: qh[32h + l] bits 2k..2k+1. Scale: scales[e/16].
	for e := 0; e < 256; e++ {
		h, r := e/128, e%128
		k, l := r/32, r%32
		v := q(e)
		qlIdx := 64*h + l + 32*(k&1)
		if k < 2 {
			blk[qlIdx] |= byte(v & 15)
		} else {
			blk[qlIdx] |= byte(v&15) << 4
		}
		blk[128+32*h+l] |= byte(v>>4) << (2 * k)
	}
	for i := 0; i < 16; i++ {
		blk[192+i] = byte(int8(3*i - 20))
	}
	putF16(blk[208:], 0x3400) // 0.25
	want := make([]float32, 256)
	for e := range want {
		want[e] = 0.25 * float32(3*(e/16)-20) * float32(q(e)-32)
	}
	expectEqual(t, dequant(t, ggml.Q6_K, blk, 256), want)
}

func TestDequantizeErrors(t *testing.T) {
	if err := Dequantize(make([]float32, 256), ggml.IQ2_XXS, make([]byte, 66)); err == nil {
		t.Error("unsupported type accepted")
	}
	if err := Dequantize(make([]float32, 33), ggml.Q8_0, make([]byte, 34)); err == nil {
		t.Error("partial block accepted")
	}
	if err := Dequantize(make([]float32, 32), ggml.Q8_0, make([]byte, 33)); err == nil {
		t.Error("short source accepted")
	}
	if _, err := Quantize(ggml.Q2_K, make([]float32, 256)); err == nil {
		t.Error("Q2_K quantize should be refused")
	}
}

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()) * scale
	}
	return v
}

// TestQuantizeRoundTrip bounds the error of quantize→dequantize by the format's
// step: half a unit in the last place for F16/BF16, d/2 per element for Q8_0
// (d = amax/127, rounding to nearest) and Q4_0 (d = |max|/8; the element equal
// to the max is exact, others round to nearest, clamped only at +7 where the
// error is below d).
func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randVec(r, 32*40, 1)
	x[5] = 0
	for i := 64; i < 96; i++ { // an all-zero block must not divide by zero
		x[i] = 0
	}
	for _, typ := range []ggml.Type{ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0} {
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		y := dequant(t, typ, b, len(x))
		for blk := 0; blk < len(x)/32; blk++ {
			var amax float32
			for _, v := range x[blk*32 : blk*32+32] {
				amax = max(amax, abs32(v))
			}
			for i := blk * 32; i < blk*32+32; i++ {
				var bound float64
				switch typ {
				case ggml.F32:
					bound = 0
				case ggml.F16:
					bound = math.Max(math.Abs(float64(x[i]))*0x1p-11, 0x1p-25)
				case ggml.BF16:
					bound = math.Abs(float64(x[i])) * 0x1p-8
				case ggml.Q8_0:
					// d is stored as f16, so the scale itself is off by up to 2^-11 relative.
					bound = float64(amax)/127/2 + float64(amax)*0x1p-10
				case ggml.Q4_0:
					bound = float64(amax)/8 + float64(amax)*0x1p-10
				}
				if d := math.Abs(float64(y[i] - x[i])); d > bound {
					t.Fatalf("%s element %d: %v -> %v, error %g > %g", typ, i, x[i], y[i], d, bound)
				}
			}
		}
	}
}

func TestQuantizeQ4_0Known(t *testing.T) {
	// max magnitude -4 with sign: d = -4/-8 = 0.5; x = -4 -> 0, x = 3.5 -> 15.
	x := make([]float32, 32)
	x[0], x[1], x[2], x[16] = -4, 3.5, 1, 0.25
	b, err := Quantize(ggml.Q4_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(b) != 0x3800 {
		t.Fatalf("d = %#04x, want 0x3800 (0.5)", binary.LittleEndian.Uint16(b))
	}
	// q = int(x/d + 8.5): -4 -> 0, 3.5 -> 15, 1 -> 10, 0.25 -> 9, 0 -> 8
	if b[2] != 0|9<<4 || b[3] != 15|8<<4 || b[4] != 10|8<<4 || b[5] != 8|8<<4 {
		t.Fatalf("qs = % x", b[2:6])
	}
}
