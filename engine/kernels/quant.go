package kernels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/runnel/runnel/engine/ggml"
)

// Block layouts, as GGUF stores them (all little-endian; d, dmin, m are
// f16 unless said otherwise). In the 32-element types, byte j of the
// nibbles holds element j (low nibble) and element j+16 (high).
//
//	Q8_0   (32, 34 B):  d | qs[32] int8                         x = d*q
//	Q4_0   (32, 18 B):  d | qs[16] nibbles                      x = d*(q-8)
//	Q4_1   (32, 20 B):  d | m | qs[16]                          x = d*q + m
//	Q5_0   (32, 22 B):  d | qh[4] | qs[16]                      x = d*(q-16); bit j of the
//	                    little-endian qh is element j's fifth bit
//	Q5_1   (32, 24 B):  d | m | qh[4] | qs[16]                  x = d*q + m
//	IQ4_NL (32, 18 B):  d | qs[16] nibbles                      x = d*iq4nl[q]
//
// The K-quants have super-blocks of 256. Their 2-bit planes (Q2_K, Q3_K)
// and Q6_K's 4-bit plane are laid out in halves of 128: byte l (0..31) of a
// half's 32-byte group serves elements 32k+l for k = 0..3 (bit pair 2k of the
// byte), and sub-blocks are 16 elements.
//
//	Q2_K (256, 84 B):  scales[16] (low nibble scale, high nibble min) | qs[64] |
//	                   d | dmin                                  x = d*sc*q - dmin*m, q 0..3
//	Q3_K (256, 110 B): hmask[32] | qs[64] | scales[12] (16 6-bit, packed) | d
//	                   x = d*(sc-32)*(q - 4·[hmask bit clear]); element 32k+l of half h
//	                   has its high bit in hmask[l] bit 4h+k
//	Q4_K (256, 144 B): d | dmin | scales[12] | qs[128]
//	      8 sub-blocks of 32, each with a 6-bit scale sc and min m packed in scales;
//	      x = d*sc*q - dmin*m. qs[32c+l] holds element 64c+l (low nibble) and 64c+32+l (high).
//	Q5_K (256, 176 B): d | dmin | scales[12] | qh[32] | qs[128]
//	      as Q4_K, plus a fifth bit: element 64c+l in qh[l] bit 2c, 64c+32+l in bit 2c+1.
//	Q6_K (256, 210 B): ql[128] | qh[64] | scales[16] int8 | d
//	      16 sub-blocks of 16; x = d*scale*(q-32), q = 4 low bits from ql, 2 high from qh.
//	IQ4_XS (256, 136 B): d | scales_h u16 | scales_l[4] | qs[128]
//	      8 sub-blocks of 32 laid out as IQ4_NL's; 6-bit scale ls (low 4 bits in the
//	      nibble j of scales_l, top 2 in bits 2j of scales_h); x = d*(ls-32)*iq4nl[q].
const (
	q80Bytes  = 34
	q40Bytes  = 18
	q41Bytes  = 20
	q50Bytes  = 22
	q51Bytes  = 24
	iq4nlSize = 18
	q2KBytes  = 84
	q3KBytes  = 110
	q4KBytes  = 144
	q5KBytes  = 176
	q6KBytes  = 210
	iq4xsSize = 136
	qk        = 32
	qkK       = 256
)

// iq4nl is the non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
var iq4nl = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func f16At(b []byte) float32 { return f16Table[binary.LittleEndian.Uint16(b)] }

// q4KScaleMin unpacks the 6-bit scale and min of sub-block j (0..7).
func q4KScaleMin(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0x0f | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// Supported reports whether the kernels can compute with tensors of type t.
func Supported(t ggml.Type) bool {
	switch t {
	case ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1,
		ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.IQ4_NL, ggml.IQ4_XS:
		return true
	}
	return false
}

// Dequantize decodes len(dst) elements of type t from src. src must hold
// exactly that many elements, in whole blocks.
func Dequantize(dst []float32, t ggml.Type, src []byte) error {
	if !Supported(t) {
		return fmt.Errorf("kernels: unsupported tensor type %s", t)
	}
	n, err := ggml.RowBytes(t, len(dst))
	if err != nil {
		return fmt.Errorf("kernels: %w", err)
	}
	if n != len(src) {
		return fmt.Errorf("kernels: %d elements of %s need %d bytes, have %d", len(dst), t, n, len(src))
	}
	dequantize(dst, t, src)
	return nil
}

// dequantize assumes the sizes were checked.
func dequantize(dst []float32, t ggml.Type, src []byte) {
	switch t {
	case ggml.F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case ggml.F16:
		for i := range dst {
			dst[i] = f16Table[binary.LittleEndian.Uint16(src[2*i:])]
		}
	case ggml.BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	default:
		dec := blockDecoders[t]
		elems, size := t.BlockSize()
		for b := 0; b < len(dst)/elems; b++ {
			dec(dst[b*elems:(b+1)*elems], src[b*size:(b+1)*size])
		}
	}
}

// blockDecoders decode one block of each quantized type.
var blockDecoders = map[ggml.Type]func(y []float32, blk []byte){
	ggml.Q8_0:   dequantQ80,
	ggml.Q4_0:   dequantQ40,
	ggml.Q4_1:   dequantQ41,
	ggml.Q5_0:   dequantQ50,
	ggml.Q5_1:   dequantQ51,
	ggml.IQ4_NL: dequantIQ4NL,
	ggml.Q2_K:   dequantQ2K,
	ggml.Q3_K:   dequantQ3K,
	ggml.Q4_K:   dequantQ4K,
	ggml.Q5_K:   dequantQ5K,
	ggml.Q6_K:   dequantQ6K,
	ggml.IQ4_XS: dequantIQ4XS,
}

func dequantQ80(y []float32, blk []byte) {
	d := f16At(blk)
	for i := range y {
		y[i] = d * float32(int8(blk[2+i]))
	}
}

func dequantQ40(y []float32, blk []byte) {
	d := f16At(blk)
	for i, v := range blk[2:18] {
		y[i] = d * float32(int(v&0x0f)-8)
		y[i+16] = d * float32(int(v>>4)-8)
	}
}

func dequantQ41(y []float32, blk []byte) {
	d, m := f16At(blk), f16At(blk[2:])
	for i, v := range blk[4:20] {
		y[i] = d*float32(v&0x0f) + m
		y[i+16] = d*float32(v>>4) + m
	}
}

// q5Quants unpacks the 32 five-bit quants of a Q5_0/Q5_1 block from its
// qh word and nibbles.
func q5Quants(q *[32]int32, qh []byte, qs []byte) {
	h := binary.LittleEndian.Uint32(qh)
	for j, v := range qs[:16] {
		q[j] = int32(v&0x0f) | int32(h>>j&1)<<4
		q[j+16] = int32(v>>4) | int32(h>>(j+16)&1)<<4
	}
}

func dequantQ50(y []float32, blk []byte) {
	var q [32]int32
	q5Quants(&q, blk[2:6], blk[6:22])
	d := f16At(blk)
	for i, v := range q {
		y[i] = d * float32(v-16)
	}
}

func dequantQ51(y []float32, blk []byte) {
	var q [32]int32
	q5Quants(&q, blk[4:8], blk[8:24])
	d, m := f16At(blk), f16At(blk[2:])
	for i, v := range q {
		y[i] = d*float32(v) + m
	}
}

func dequantIQ4NL(y []float32, blk []byte) {
	d := f16At(blk)
	for i, v := range blk[2:18] {
		y[i] = d * float32(iq4nl[v&0x0f])
		y[i+16] = d * float32(iq4nl[v>>4])
	}
}

// q2Plane returns the 2-bit quant of element e (0..255) of a 64-byte plane
// laid out in halves of 128 (see the layouts above).
func q2Plane(qs []byte, e int) int32 {
	h, r := e/128, e%128
	return int32(qs[32*h+r%32] >> (2 * (r / 32)) & 3)
}

func dequantQ2K(y []float32, blk []byte) {
	scales, qs := blk[0:16], blk[16:80]
	d, dmin := f16At(blk[80:]), f16At(blk[82:])
	for e := range y[:256] {
		sc := scales[e/16]
		y[e] = d*float32(sc&0x0f)*float32(q2Plane(qs, e)) - dmin*float32(sc>>4)
	}
}

// q3KScales unpacks Q3_K's sixteen 6-bit scales, minus their offset of 32:
// the low 4 bits of scale i are nibble i/8 of byte i%8, the top 2 bits are
// bits 2(i/4) of byte 8+i%4.
func q3KScales(s []byte) (sc [16]int32) {
	for i := range sc {
		lo := s[i%8] >> (4 * (i / 8)) & 0x0f
		hi := s[8+i%4] >> (2 * (i / 4)) & 3
		sc[i] = int32(lo|hi<<4) - 32
	}
	return sc
}

// q3Quant is element e's quant in -4..3.
func q3Quant(hmask, qs []byte, e int) int32 {
	q := q2Plane(qs, e)
	h, r := e/128, e%128
	if hmask[r%32]>>(4*h+r/32)&1 == 0 {
		q -= 4
	}
	return q
}

func dequantQ3K(y []float32, blk []byte) {
	hmask, qs := blk[0:32], blk[32:96]
	sc := q3KScales(blk[96:108])
	d := f16At(blk[108:])
	for e := range y[:256] {
		y[e] = d * float32(sc[e/16]) * float32(q3Quant(hmask, qs, e))
	}
}

func dequantQ5K(y []float32, blk []byte) {
	d, dmin := f16At(blk), f16At(blk[2:])
	scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
	for c := 0; c < 4; c++ {
		sc0, m0 := q4KScaleMin(2*c, scales)
		sc1, m1 := q4KScaleMin(2*c+1, scales)
		d0, min0 := d*float32(sc0), dmin*float32(m0)
		d1, min1 := d*float32(sc1), dmin*float32(m1)
		for l, v := range qs[32*c : 32*c+32] {
			q0 := int32(v&0x0f) | int32(qh[l]>>(2*c)&1)<<4
			q1 := int32(v>>4) | int32(qh[l]>>(2*c+1)&1)<<4
			y[64*c+l] = d0*float32(q0) - min0
			y[64*c+32+l] = d1*float32(q1) - min1
		}
	}
}

// iq4xsScale is sub-block j's scale, minus its offset of 32.
func iq4xsScale(blk []byte, j int) int32 {
	h := binary.LittleEndian.Uint16(blk[2:])
	lo := blk[4+j/2] >> (4 * (j % 2)) & 0x0f
	return int32(lo|byte(h>>(2*j)&3)<<4) - 32
}

func dequantIQ4XS(y []float32, blk []byte) {
	d := f16At(blk)
	for j := 0; j < 8; j++ {
		dl := d * float32(iq4xsScale(blk, j))
		for i, v := range blk[8+16*j : 8+16*j+16] {
			y[32*j+i] = dl * float32(iq4nl[v&0x0f])
			y[32*j+16+i] = dl * float32(iq4nl[v>>4])
		}
	}
}

func dequantQ4K(y []float32, blk []byte) {
	d, dmin := f16At(blk), f16At(blk[2:])
	scales, qs := blk[4:16], blk[16:144]
	for c := 0; c < 4; c++ {
		sc0, m0 := q4KScaleMin(2*c, scales)
		sc1, m1 := q4KScaleMin(2*c+1, scales)
		d0, min0 := d*float32(sc0), dmin*float32(m0)
		d1, min1 := d*float32(sc1), dmin*float32(m1)
		q := qs[32*c : 32*c+32]
		lo, hi := y[64*c:64*c+32], y[64*c+32:64*c+64]
		for l, v := range q {
			lo[l] = d0*float32(v&0x0f) - min0
			hi[l] = d1*float32(v>>4) - min1
		}
	}
}

func dequantQ6K(y []float32, blk []byte) {
	ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
	d := f16At(blk[208:])
	for h := 0; h < 2; h++ {
		l4, h2, s := ql[64*h:64*h+64], qh[32*h:32*h+32], sc[8*h:8*h+8]
		out := y[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(l4[l]&0x0f|(h2[l]&3)<<4) - 32
			q2 := int(l4[l+32]&0x0f|(h2[l]>>2&3)<<4) - 32
			q3 := int(l4[l]>>4|(h2[l]>>4&3)<<4) - 32
			q4 := int(l4[l+32]>>4|(h2[l]>>6&3)<<4) - 32
			out[l] = d * float32(int8(s[is])) * float32(q1)
			out[l+32] = d * float32(int8(s[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(s[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(s[is+6])) * float32(q4)
		}
	}
}

// Quantize encodes src as type t (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K or
// Q6_K). For the block types len(src) must be a multiple of the block size.
// Q8_0, Q4_0 and Q5_0 round as llama.cpp's reference quantizers do; the
// K-quants use a plain min/max fit per sub-block (llama.cpp searches for a
// better one), which any reader decodes the same way.
func Quantize(t ggml.Type, src []float32) ([]byte, error) {
	n, err := ggml.RowBytes(t, len(src))
	if err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	out := make([]byte, n)
	switch t {
	case ggml.F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case ggml.F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(v))
		}
	case ggml.BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(v))
		}
	case ggml.Q8_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ80Block(out[b*q80Bytes:(b+1)*q80Bytes], src[b*qk:(b+1)*qk])
		}
	case ggml.Q4_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ40Block(out[b*q40Bytes:(b+1)*q40Bytes], src[b*qk:(b+1)*qk])
		}
	case ggml.Q5_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ50Block(out[b*q50Bytes:(b+1)*q50Bytes], src[b*qk:(b+1)*qk])
		}
	case ggml.Q4_K:
		for b := 0; b < len(src)/qkK; b++ {
			quantQ4KBlock(out[b*q4KBytes:(b+1)*q4KBytes], src[b*qkK:(b+1)*qkK])
		}
	case ggml.Q6_K:
		for b := 0; b < len(src)/qkK; b++ {
			quantQ6KBlock(out[b*q6KBytes:(b+1)*q6KBytes], src[b*qkK:(b+1)*qkK])
		}
	default:
		return nil, fmt.Errorf("kernels: quantizing to %s is not supported", t)
	}
	return out, nil
}

func quantQ80Block(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	for i, v := range x {
		dst[2+i] = byte(int8(roundAway(v * id)))
	}
}

func quantQ40Block(dst []byte, x []float32) {
	// The scale maps the value of largest magnitude, with its sign, to -8, so
	// the full range -8..7 is used on that side.
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	d := mx / -8
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	for i := 0; i < 16; i++ {
		q0 := min(15, max(0, int(x[i]*id+8.5)))
		q1 := min(15, max(0, int(x[i+16]*id+8.5)))
		dst[2+i] = byte(q0) | byte(q1)<<4
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// roundAway rounds half away from zero, as C's roundf (llama.cpp's choice).
func roundAway(v float32) float32 { return float32(math.Round(float64(v))) }

// signedMax returns the element of largest magnitude, with its sign.
func signedMax(x []float32) float32 {
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	return mx
}

func quantQ50Block(dst []byte, x []float32) {
	// As Q4_0: the largest magnitude maps to -16, using the full -16..15.
	d := signedMax(x) / -16
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	var qh uint32
	for i := 0; i < 16; i++ {
		q0 := min(31, max(0, int(x[i]*id+16.5)))
		q1 := min(31, max(0, int(x[i+16]*id+16.5)))
		dst[6+i] = byte(q0&15) | byte(q1&15)<<4
		qh |= uint32(q0>>4)<<i | uint32(q1>>4)<<(i+16)
	}
	binary.LittleEndian.PutUint32(dst[2:], qh)
}

// quantScale quantizes v ≥ 0 against super-scale d to 0..63.
func quantScale(v, d float32) uint8 {
	if d == 0 {
		return 0
	}
	return uint8(min(63, max(0, int(roundAway(v/d)))))
}

func quantQ4KBlock(dst []byte, x []float32) {
	// Per sub-block of 32: x ≈ scale*q - min with q in 0..15 and min ≥ 0.
	var scale, mins [8]float32
	for j := range 8 {
		lo, hi := float32(0), float32(0)
		for i, v := range x[32*j : 32*j+32] {
			if i == 0 || v < lo {
				lo = v
			}
			if i == 0 || v > hi {
				hi = v
			}
		}
		lo = min(lo, 0)
		scale[j], mins[j] = (hi-lo)/15, -lo
	}
	var smax, mmax float32
	for j := range 8 {
		smax, mmax = max(smax, scale[j]), max(mmax, mins[j])
	}
	d, dmin := F16ToF32(F32ToF16(smax/63)), F16ToF32(F32ToF16(mmax/63))
	var sc, m [8]uint8
	for j := range 8 {
		sc[j], m[j] = quantScale(scale[j], d), quantScale(mins[j], dmin)
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	binary.LittleEndian.PutUint16(dst[2:], F32ToF16(dmin))
	// Scales and mins: sub-blocks 0-3 in the low 6 bits of bytes 0-3
	// (scale) and 4-7 (min); sub-blocks 4-7 with their low 4 bits in bytes
	// 8-11 and their top 2 bits in the top bits of bytes 0-7.
	s := dst[4:16]
	for j := range 4 {
		s[j] = sc[j] | (sc[j+4]>>4)<<6
		s[j+4] = m[j] | (m[j+4]>>4)<<6
		s[j+8] = sc[j+4]&15 | (m[j+4]&15)<<4
	}
	qs := dst[16:144]
	clear(qs)
	for e, v := range x[:256] {
		j := e / 32
		ds, dm := d*float32(sc[j]), dmin*float32(m[j])
		q := 0
		if ds != 0 {
			q = min(15, max(0, int(roundAway((v+dm)/ds))))
		}
		c, l := e/64, e%32
		if e%64 < 32 {
			qs[32*c+l] |= byte(q)
		} else {
			qs[32*c+l] |= byte(q) << 4
		}
	}
}

func quantQ6KBlock(dst []byte, x []float32) {
	// Per sub-block of 16: the largest magnitude maps to -32 (as Q4_0),
	// then the sixteen scales are quantized to int8 against d.
	var scale [16]float32
	var smax float32
	for j := range 16 {
		scale[j] = signedMax(x[16*j:16*j+16]) / -32
		smax = max(smax, abs32(scale[j]))
	}
	d := F16ToF32(F32ToF16(smax / 127))
	clear(dst)
	for j := range 16 {
		if d != 0 {
			dst[192+j] = byte(int8(min(127, max(-127, int(roundAway(scale[j]/d))))))
		}
	}
	binary.LittleEndian.PutUint16(dst[208:], F32ToF16(d))
	ql, qh := dst[0:128], dst[128:192]
	for e, v := range x[:256] {
		ds := d * float32(int8(dst[192+e/16]))
		q := 32
		if ds != 0 {
			q = min(63, max(0, int(roundAway(v/ds))+32))
		}
		// Halves of 128; in a half, element 32k+l has its low 4 bits in
		// ql[l+32(k&1)] (low nibble for k < 2) and its top 2 in qh[l] at bit 2k.
		h, r := e/128, e%128
		k, l := r/32, r%32
		if k < 2 {
			ql[64*h+l+32*(k&1)] |= byte(q & 15)
		} else {
			ql[64*h+l+32*(k&1)] |= byte(q&15) << 4
		}
		qh[32*h+l] |= byte(q>>4) << (2 * k)
	}
}
