package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// The tests below build one block of each format from chosen scales and
// quants, packing them as the format's description says (the encoding
// direction, written separately from the decoders), and compare the decoded
// values with the formula applied to the chosen numbers. Scales are powers
// of two or small f16-exact values, so the expected floats are exact.

// pattern returns quant e of a block: a fixed permutation-like sequence
// that takes every value of 0..n-1 and differs between neighbours.
func pattern(e, mul, add, n int) int { return (e*mul + add) % n }

// packNibbles writes 32 4-bit quants as the 32-element formats store them:
// byte j holds element j (low nibble) and j+16 (high).
func packNibbles(dst []byte, q func(i int) int) {
	for j := 0; j < 16; j++ {
		dst[j] = byte(q(j)&15) | byte(q(j+16)&15)<<4
	}
}

func TestDequantizeQ4_1(t *testing.T) {
	blk := make([]byte, 20)
	putF16(blk, 0x3800)     // d = 0.5
	putF16(blk[2:], 0xbc00) // m = -1
	q := func(i int) int { return pattern(i, 7, 2, 16) }
	packNibbles(blk[4:], q)
	want := make([]float32, 32)
	for i := range want {
		want[i] = 0.5*float32(q(i)) - 1
	}
	expectEqual(t, dequant(t, ggml.Q4_1, blk, 32), want)
}

// packQ5 writes 32 5-bit quants: low nibbles as packNibbles, the fifth bit
// of element i in bit i of a little-endian 32-bit word.
func packQ5(qh, qs []byte, q func(i int) int) {
	packNibbles(qs, q)
	var h uint32
	for i := 0; i < 32; i++ {
		h |= uint32(q(i)>>4&1) << i
	}
	binary.LittleEndian.PutUint32(qh, h)
}

func TestDequantizeQ5_0(t *testing.T) {
	blk := make([]byte, 22)
	putF16(blk, 0x3400) // d = 0.25
	q := func(i int) int { return pattern(i, 11, 5, 32) }
	packQ5(blk[2:6], blk[6:22], q)
	want := make([]float32, 32)
	for i := range want {
		want[i] = 0.25 * float32(q(i)-16)
	}
	expectEqual(t, dequant(t, ggml.Q5_0, blk, 32), want)
}

func TestDequantizeQ5_1(t *testing.T) {
	blk := make([]byte, 24)
	putF16(blk, 0x4000)     // d = 2
	putF16(blk[2:], 0x3c00) // m = 1
	q := func(i int) int { return pattern(i, 13, 30, 32) }
	packQ5(blk[4:8], blk[8:24], q)
	want := make([]float32, 32)
	for i := range want {
		want[i] = 2*float32(q(i)) + 1
	}
	expectEqual(t, dequant(t, ggml.Q5_1, blk, 32), want)
}

// The IQ4_NL codebook as published with the format.
var iq4nlValues = [16]float32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func TestDequantizeIQ4_NL(t *testing.T) {
	blk := make([]byte, 18)
	putF16(blk, 0x3800) // 0.5
	q := func(i int) int { return pattern(i, 5, 9, 16) }
	packNibbles(blk[2:], q)
	want := make([]float32, 32)
	for i := range want {
		want[i] = 0.5 * iq4nlValues[q(i)]
	}
	expectEqual(t, dequant(t, ggml.IQ4_NL, blk, 32), want)
}

// put2 sets the 2-bit value v of element e (0..255) in a 64-byte plane:
// halves of 128, byte l of a half serves its elements l, 32+l, 64+l, 96+l
// at bit pairs 0, 2, 4, 6.
func put2(plane []byte, e, v int) {
	h, r := e/128, e%128
	plane[32*h+r%32] |= byte(v&3) << (2 * (r / 32))
}

func TestDequantizeQ2_K(t *testing.T) {
	blk := make([]byte, 84)
	q := func(e int) int { return pattern(e, 3, 1, 4) }
	sc := func(s int) int { return pattern(s, 5, 3, 16) }
	mn := func(s int) int { return pattern(s, 7, 11, 16) }
	for s := 0; s < 16; s++ {
		blk[s] = byte(sc(s)) | byte(mn(s))<<4
	}
	for e := 0; e < 256; e++ {
		put2(blk[16:80], e, q(e))
	}
	putF16(blk[80:], 0x3800) // d = 0.5
	putF16(blk[82:], 0x3400) // dmin = 0.25
	want := make([]float32, 256)
	for e := range want {
		want[e] = 0.5*float32(sc(e/16))*float32(q(e)) - 0.25*float32(mn(e/16))
	}
	expectEqual(t, dequant(t, ggml.Q2_K, blk, 256), want)
}

func TestDequantizeQ3_K(t *testing.T) {
	blk := make([]byte, 110)
	q := func(e int) int { return pattern(e, 5, 2, 8) - 4 } // -4..3
	sc := func(s int) int { return pattern(s, 23, 7, 64) }  // 6 bits, stored +32 offset
	for e := 0; e < 256; e++ {
		u := q(e) + 4 // 0..7: bit 2 is the hmask bit, set when q >= 0
		put2(blk[32:96], e, u&3)
		if u&4 != 0 {
			h, r := e/128, e%128
			blk[r%32] |= 1 << (4*h + r/32)
		}
	}
	// Scale s: low nibble in byte s%8 (low nibble for s<8, high for s>=8),
	// top two bits in byte 8+s%4 at bit pair s/4.
	for s := 0; s < 16; s++ {
		v := sc(s)
		blk[96+s%8] |= byte(v&15) << (4 * (s / 8))
		blk[96+8+s%4] |= byte(v>>4) << (2 * (s / 4))
	}
	putF16(blk[108:], 0x3000) // 0.125
	want := make([]float32, 256)
	for e := range want {
		want[e] = 0.125 * float32(sc(e/16)-32) * float32(q(e))
	}
	expectEqual(t, dequant(t, ggml.Q3_K, blk, 256), want)
}

func TestDequantizeQ5_K(t *testing.T) {
	var sc, mn [8]uint8
	for j := range sc {
		sc[j] = uint8(pattern(j, 9, 20, 64))
		mn[j] = uint8(pattern(j, 13, 40, 64))
	}
	blk := make([]byte, 176)
	putF16(blk, 0x3800)     // d = 0.5
	putF16(blk[2:], 0x3c00) // dmin = 1
	s := packQ4KScales(sc, mn)
	copy(blk[4:16], s[:])
	q := func(e int) int { return pattern(e, 17, 3, 32) }
	// Element e in chunk c = e/64, l = e%32: low 4 bits in qs[32c+l] (low
	// nibble for the chunk's first 32, high for its second), the fifth in
	// qh[l] bit 2c (first 32) or 2c+1 (second).
	for e := 0; e < 256; e++ {
		c, l, second := e/64, e%32, e%64 >= 32
		v := q(e)
		if second {
			blk[48+32*c+l] |= byte(v&15) << 4
			blk[16+l] |= byte(v>>4) << (2*c + 1)
		} else {
			blk[48+32*c+l] |= byte(v & 15)
			blk[16+l] |= byte(v>>4) << (2 * c)
		}
	}
	want := make([]float32, 256)
	for e := range want {
		j := e / 32
		want[e] = 0.5*float32(sc[j])*float32(q(e)) - 1*float32(mn[j])
	}
	expectEqual(t, dequant(t, ggml.Q5_K, blk, 256), want)
}

func TestDequantizeIQ4_XS(t *testing.T) {
	blk := make([]byte, 136)
	putF16(blk, 0x3400) // 0.25
	ls := func(j int) int { return pattern(j, 19, 5, 64) }
	var h uint16
	for j := 0; j < 8; j++ {
		blk[4+j/2] |= byte(ls(j)&15) << (4 * (j % 2))
		h |= uint16(ls(j)>>4) << (2 * j)
	}
	binary.LittleEndian.PutUint16(blk[2:], h)
	q := func(e int) int { return pattern(e, 7, 1, 16) }
	for j := 0; j < 8; j++ {
		packNibbles(blk[8+16*j:], func(i int) int { return q(32*j + i) })
	}
	want := make([]float32, 256)
	for e := range want {
		want[e] = 0.25 * float32(ls(e/32)-32) * iq4nlValues[q(e)]
	}
	expectEqual(t, dequant(t, ggml.IQ4_XS, blk, 256), want)
}

// TestUnsupportedTypeNamed: a type the kernels cannot compute with, known
// or not, is named in the error.
func TestUnsupportedTypeNamed(t *testing.T) {
	for typ, name := range map[ggml.Type]string{ggml.IQ2_XXS: "IQ2_XXS", ggml.TQ1_0: "TQ1_0", ggml.Type(77): "77"} {
		err := Dequantize(make([]float32, 256), typ, make([]byte, 66))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%d: error %v does not name %s", typ, err, name)
		}
		if _, err := NewMatrix(typ, 1, 256, make([]byte, 66)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("NewMatrix %d: error %v does not name %s", typ, err, name)
		}
	}
}

// TestQuantizeKQuants: Q5_0, Q4_K and Q6_K written by Quantize decode
// (by the decoders tested above) to within the format's step: each
// element within half a step of its sub-block plus the scales' own
// rounding, checked as a bound on the worst element relative to the
// block's largest magnitude, and on the RMS error.
func TestQuantizeKQuants(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	x := randVec(r, 256*16, 1)
	for i := 512; i < 768; i++ { // an all-zero super-block
		x[i] = 0
	}
	for i := 768; i < 1024; i++ { // all positive, with an offset
		x[i] = abs32(x[i]) + 2
	}
	for _, c := range []struct {
		typ       ggml.Type
		worst, rm float64 // bounds relative to the block's amax
	}{
		{ggml.Q5_0, 1.0 / 16, 0.025},
		{ggml.Q4_K, 0.2, 0.05},
		{ggml.Q6_K, 1.0 / 16, 0.012},
	} {
		b, err := Quantize(c.typ, x)
		if err != nil {
			t.Fatal(err)
		}
		y := dequant(t, c.typ, b, len(x))
		elems, _ := c.typ.BlockSize()
		for blk := 0; blk < len(x)/elems; blk++ {
			xs, ys := x[blk*elems:(blk+1)*elems], y[blk*elems:(blk+1)*elems]
			var amax, se float64
			for _, v := range xs {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			for i := range xs {
				e := math.Abs(float64(ys[i] - xs[i]))
				se += e * e
				if e > c.worst*amax+1e-30 {
					t.Fatalf("%s block %d element %d: %v -> %v (amax %v)", c.typ, blk, i, xs[i], ys[i], amax)
				}
			}
			if rms := math.Sqrt(se / float64(elems)); rms > c.rm*amax+1e-30 {
				t.Fatalf("%s block %d: RMS error %g, amax %g", c.typ, blk, rms, amax)
			}
		}
	}
}
