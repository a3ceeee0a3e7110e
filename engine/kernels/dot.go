package kernels

import (
	"encoding/binary"
	"math"

	"github.com/runnel/runnel/engine/ggml"
)

// Portable dot products, one per weight type. The fast paths in the
// architecture files must give the same results up to float rounding; the
// tests compare them on random data.
//
// The quantized types are dotted against an activation vector that was
// itself quantized to 8 bits, so the inner loops are integer multiply-adds,
// as in llama.cpp. Most take it in Q8_0-style blocks of 32 (qvec): every
// weight (sub-)block of 32 or 16 elements lies inside one activation block,
// so each block contributes dw * dx * Σ qw·qx exactly in integers. Q4_K,
// Q5_K and Q6_K take it in Q8_K-style super-blocks of 256 (kvec), one
// scale each: their 6-bit sub-block scales are then applied in integers
// too (Q4_K's and Q5_K's mins through the activations' sums of 16), and a
// super-block contributes dw * dx * Σ sc·Σ qw·qx (less dmin * dx * Σ m·Σ
// qx), one or two float steps for 256 weights. Either way the only error
// beyond float rounding is the activation's rounding, at most dx/2 per
// element (dx the scale of the element's activation block, of 32 or 256).

// qvec is an activation vector quantized in blocks of 32: x[i] ≈ d[i/32]*qs[i].
// sum holds Σ qs over each block, for the Q4_1 and Q5_1 min terms. For
// the tiled products, d4 holds d again, interleaved by groups of four
// vectors; c16 and c128 the corrections -16·Σx and -128·Σx per four-byte
// group (laid out as qs, one int32 a group) for kernels that take the
// weights unsigned as w+16 or w+128; u8 the quants as unsigned bytes,
// qs+128, for kernels that take the activations so (amd64). forms says
// which of these hold the current quantization: each is made only when a
// product that reads it comes (forTiles). k holds the same vectors in
// super-blocks of 256, for the types that take them so (needsK).
type qvec struct {
	d         []float32
	qs        []int8
	sum       []int32
	d4        []float32
	c16, c128 []int32
	u8        []uint8
	forms     tileForm
	k         kvec
}

// tileForm is a set of qvec's forms for the tiles, besides d and qs.
type tileForm uint8

const (
	formD4   tileForm = 1 << iota // d4
	formC16                       // c16: Q5_0's weights taken as w+16
	formC128                      // c128: Q8_0's as w+128 (VNNI, unsigned tiles off)
	formU8                        // u8: the VNNI build's Q8_0 and Q5_0 tiles
)

// kvec is an activation vector quantized in super-blocks of 256, as
// llama.cpp's Q8_K (our own code): x[i] ≈ d[i/256]*qs[i], with bs[j] = Σ qs
// over the j-th 16 values, which Q6_K's sub-blocks of 16 take for their
// offset of 32 and Q4_K's and Q5_K's for their mins. d4 holds d interleaved by groups of four vectors, as
// qvec.d4, for the tiles.
type kvec struct {
	d  []float32
	qs []int8
	bs []int16
	d4 []float32
}

// needsK reports whether products with weight type t take the activations
// in super-blocks of 256 (qvec.k) rather than in blocks of 32.
func needsK(t ggml.Type) bool { return t == ggml.Q4_K || t == ggml.Q5_K || t == ggml.Q6_K }

// quantizeFor quantizes x (vectors whose width t's blocks divide) in the
// form products with t take, and for the tiles if tiles is set (cols the
// vectors' width).
func (v *qvec) quantizeFor(t ggml.Type, x []float32, cols int, tiles bool) {
	if needsK(t) {
		v.k.quantize(x)
		if tiles {
			v.k.d4 = interleave4(v.k.d4, v.k.d, cols/qkK)
		}
		return
	}
	v.quantize(x)
	if tiles {
		v.forTiles(t, cols/qk)
	}
}

// rowDot is the product of row (weight type t) with vector v of those
// quantized in x, each cols wide, in the form t takes.
func (v *qvec) rowDot(t ggml.Type, row []byte, k, cols int) float32 {
	if needsK(t) {
		return v.k.dot(t, row, k, cols)
	}
	nb := cols / qk
	return dotFor(t)(row, v.d[k*nb:(k+1)*nb], v.qs[k*cols:(k+1)*cols], v.sum[k*nb:(k+1)*nb])
}

// quantize fills k from x (len(x) a multiple of 256), growing its buffers.
func (k *kvec) quantize(x []float32) {
	nsb := len(x) / qkK
	k.d = grow(k.d, nsb)
	k.qs = grow(k.qs, len(x))
	k.bs = grow(k.bs, len(x)/16)
	quantizeQ8K(k.d, k.qs, k.bs, x)
}

// dot is the product of row (type t, needsK(t)) with vector v, cols wide.
func (k *kvec) dot(t ggml.Type, row []byte, v, cols int) float32 {
	nsb := cols / qkK
	d, qs, bs := k.d[v*nsb:(v+1)*nsb], k.qs[v*cols:(v+1)*cols], k.bs[v*cols/16:(v+1)*cols/16]
	switch t {
	case ggml.Q4_K:
		return dotQ4K(row, d, qs, bs)
	case ggml.Q5_K:
		return dotQ5K(row, d, qs, bs)
	}
	return dotQ6K(row, d, qs, bs)
}

// forTiles makes what t's tile kernels read besides d and qs, for vectors
// of nb blocks, where the current quantization lacks it: the corrections
// or unsigned quants of the kernels in use (tileForms), and d4: in each
// group of four vectors, d4[4b+k] is vector k's scale of block b, so the
// kernels load a block's four scales at once.
//
// When the vector count is not a multiple of four (but at least four),
// one more group follows the aligned ones: the last four vectors, which
// overlap the last aligned group, so that the leftover vectors can go
// through a four-vector kernel too (see tiledJob.rows).
func (v *qvec) forTiles(t ggml.Type, nb int) {
	if v.forms&formD4 == 0 {
		v.d4 = interleave4(v.d4, v.d, nb)
		v.forms |= formD4
	}
	if need := tileForms(t, nb*qk) &^ v.forms; need != 0 {
		v.makeForms(need)
		v.forms |= need
	}
}

// interleave4 returns d4 (grown) holding d's block scales, nb a vector,
// interleaved by groups of four vectors as forTiles describes.
func interleave4(d4, d []float32, nb int) []float32 {
	total := len(d) / nb
	n := total / 4 * 4
	size := n
	if total > n && total >= 4 {
		size = n + 4
	}
	d4 = grow(d4, size*nb)
	for g := 0; g < n; g += 4 {
		interleave(d4[g*nb:(g+4)*nb], d, g, nb)
	}
	if size > n {
		interleave(d4[n*nb:size*nb], d, total-4, nb)
	}
	return d4
}

// interleave writes vectors g … g+3's block scales into d4, block by block.
func interleave(d4, d []float32, g, nb int) {
	for k := range 4 {
		for b, s := range d[(g+k)*nb : (g+k+1)*nb] {
			d4[4*b+k] = s
		}
	}
}

// quantizeX fills v from x (len(x) a multiple of 32), growing v's buffers.
func (v *qvec) quantize(x []float32) {
	nb := len(x) / qk
	v.d = grow(v.d, nb)
	v.sum = grow(v.sum, nb)
	v.qs = grow(v.qs, len(x))
	quantizeQ8(v.d, v.qs, v.sum, x)
	v.forms = 0
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func quantizeQ8Go(d []float32, qs []int8, sum []int32, x []float32) {
	for b := range d {
		q := qs[b*qk : (b+1)*qk]
		d[b] = quantBlock(q, x[b*qk:(b+1)*qk])
		var s int32
		for _, v := range q {
			s += int32(v)
		}
		sum[b] = s
	}
}

// quantizeQ8KGo quantizes x in super-blocks of 256 (kvec): one scale
// each, as quantizeQ8Go's blocks, and the quants' sums over each 16.
func quantizeQ8KGo(d []float32, qs []int8, bs []int16, x []float32) {
	for b := range d {
		q := qs[b*qkK : (b+1)*qkK]
		d[b] = quantBlock(q, x[b*qkK:(b+1)*qkK])
		for j := range 16 {
			var s int16
			for _, v := range q[16*j : 16*j+16] {
				s += int16(v)
			}
			bs[16*b+j] = s
		}
	}
}

// quantBlock quantizes xb to q (as many) against its largest magnitude
// amax: q = round(x·127/amax), and returns the scale amax/127.
func quantBlock(q []int8, xb []float32) float32 {
	var amax float32
	for _, v := range xb {
		amax = max(amax, abs32(v))
	}
	id := float32(0)
	if amax >= 0x1p-120 { // below, 127/amax would overflow: quants are 0
		id = 127 / amax
	}
	for i, v := range xb {
		// Round half away from zero without a float64 round trip.
		t := v * id
		var r int32
		if t >= 0 {
			r = int32(t + 0.5)
		} else {
			r = -int32(-t + 0.5)
		}
		q[i] = int8(r)
	}
	return amax / 127
}

func dotF32Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF16Go(row []byte, x []float32) float32 {
	row = row[:2*len(x)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += f16Table[binary.LittleEndian.Uint16(row[2*i:])] * x[i]
		s1 += f16Table[binary.LittleEndian.Uint16(row[2*i+2:])] * x[i+1]
	}
	for ; i < len(x); i++ {
		s0 += f16Table[binary.LittleEndian.Uint16(row[2*i:])] * x[i]
	}
	return s0 + s1
}

func dotBF16Go(row []byte, x []float32) float32 {
	row = row[:2*len(x)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += math.Float32frombits(uint32(binary.LittleEndian.Uint16(row[2*i:]))<<16) * x[i]
		s1 += math.Float32frombits(uint32(binary.LittleEndian.Uint16(row[2*i+2:]))<<16) * x[i+1]
	}
	for ; i < len(x); i++ {
		s0 += math.Float32frombits(uint32(binary.LittleEndian.Uint16(row[2*i:]))<<16) * x[i]
	}
	return s0 + s1
}

func dotQ80Go(row []byte, d []float32, qs []int8) float32 {
	var acc float32
	for b := range d {
		blk := row[b*q80Bytes : (b+1)*q80Bytes]
		q := qs[b*qk : (b+1)*qk]
		var s int32
		for i, w := range blk[2:34] {
			s += int32(int8(w)) * int32(q[i])
		}
		acc += f16At(blk) * d[b] * float32(s)
	}
	return acc
}

func dotQ40Go(row []byte, d []float32, qs []int8) float32 {
	var acc float32
	for b := range d {
		blk := row[b*q40Bytes : (b+1)*q40Bytes]
		q := qs[b*qk : (b+1)*qk]
		var s int32
		for i, w := range blk[2:18] {
			s += (int32(w&0x0f)-8)*int32(q[i]) + (int32(w>>4)-8)*int32(q[i+16])
		}
		acc += f16At(blk) * d[b] * float32(s)
	}
	return acc
}

// dotQ4KGo takes the activations in super-blocks of 256 (kvec): per
// super-block Σ_j sc_j·Σ q·x over its eight sub-blocks of 32 and the mins'
// Σ_j m_j·Σx (from the activations' sums of 16) are exact integers, scaled
// once by d·dx and dmin·dx.
func dotQ4KGo(row []byte, d []float32, qs []int8, bs []int16) float32 {
	var acc float32
	for sb := range d {
		blk := row[sb*q4KBytes : (sb+1)*q4KBytes]
		wq := blk[16:144]
		x := qs[sb*qkK : (sb+1)*qkK]
		var s [8]int32
		for c := 0; c < 4; c++ {
			for l, w := range wq[32*c : 32*c+32] {
				s[2*c] += int32(w&0x0f) * int32(x[64*c+l])
				s[2*c+1] += int32(w>>4) * int32(x[64*c+32+l])
			}
		}
		acc += kSuperBlock(blk, d[sb], &s, bs[16*sb:16*sb+16])
	}
	return acc
}

// kSuperBlock is a Q4_K or Q5_K super-block's share of a product: its
// header at blk, the activation scale dx, the sub-blocks' sums Σ q·x and
// the activations' sums of 16 bs.
func kSuperBlock(blk []byte, dx float32, s *[8]int32, bs []int16) float32 {
	dw, dmin, scales := f16At(blk), f16At(blk[2:]), blk[4:16]
	var is, im int32
	for j := range 8 {
		sc, m := q4KScaleMin(j, scales)
		is += int32(sc) * s[j]
		im += int32(m) * (int32(bs[2*j]) + int32(bs[2*j+1]))
	}
	return dw*dx*float32(is) - dmin*dx*float32(im)
}

// dotQ6KGo takes the activations in super-blocks of 256 (kvec): per
// super-block the sum Σ_j sc_j·Σ(q-32)·x over its sixteen sub-blocks is
// one exact integer, the offset of 32 taken through the activations' sums
// of 16 (bs), and dw·dx scales it once.
func dotQ6KGo(row []byte, d []float32, qs []int8, bs []int16) float32 {
	var acc float32
	for sb := range d {
		blk := row[sb*q6KBytes : (sb+1)*q6KBytes]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		x := qs[sb*qkK : (sb+1)*qkK]
		var s int32
		for h := 0; h < 2; h++ {
			l4, h2 := ql[64*h:64*h+64], qh[32*h:32*h+32]
			for k := 0; k < 4; k++ {
				xk := x[128*h+32*k : 128*h+32*k+32]
				lo := l4[32*(k&1) : 32*(k&1)+32]
				shiftL := uint(4 * (k >> 1)) // k 0,1: low nibble; k 2,3: high
				shiftH := uint(2 * k)
				var p [2]int32
				for l := 0; l < 32; l++ {
					q := int32((lo[l]>>shiftL)&0x0f | ((h2[l]>>shiftH)&3)<<4)
					p[l>>4] += q * int32(xk[l])
				}
				is := 8*h + 2*k // the sub-blocks of elements 128h+32k …
				s += int32(int8(sc[is]))*p[0] + int32(int8(sc[is+1]))*p[1]
			}
		}
		for j, b := range bs[16*sb : 16*sb+16] {
			s -= 32 * int32(int8(sc[j])) * int32(b)
		}
		acc += f16At(blk[208:]) * d[sb] * float32(s)
	}
	return acc
}

// The formats below have only a portable kernel. Each block's integer sum
// is exact; the scales are applied once per (sub-)block, as above.

func dotQ41Go(row []byte, d []float32, qs []int8, sum []int32) float32 {
	var acc float32
	for b := range d {
		blk := row[b*q41Bytes : (b+1)*q41Bytes]
		q := qs[b*qk : (b+1)*qk]
		var s int32
		for i, w := range blk[4:20] {
			s += int32(w&0x0f)*int32(q[i]) + int32(w>>4)*int32(q[i+16])
		}
		acc += d[b] * (f16At(blk)*float32(s) + f16At(blk[2:])*float32(sum[b]))
	}
	return acc
}

func dotQ50Go(row []byte, d []float32, qs []int8, _ []int32) float32 {
	var acc float32
	var w [32]int32
	for b := range d {
		blk := row[b*q50Bytes : (b+1)*q50Bytes]
		q5Quants(&w, blk[2:6], blk[6:22])
		var s int32
		for i, x := range qs[b*qk : (b+1)*qk] {
			s += (w[i] - 16) * int32(x)
		}
		acc += f16At(blk) * d[b] * float32(s)
	}
	return acc
}

func dotQ51Go(row []byte, d []float32, qs []int8, sum []int32) float32 {
	var acc float32
	var w [32]int32
	for b := range d {
		blk := row[b*q51Bytes : (b+1)*q51Bytes]
		q5Quants(&w, blk[4:8], blk[8:24])
		var s int32
		for i, x := range qs[b*qk : (b+1)*qk] {
			s += w[i] * int32(x)
		}
		acc += d[b] * (f16At(blk)*float32(s) + f16At(blk[2:])*float32(sum[b]))
	}
	return acc
}

func dotIQ4NLGo(row []byte, d []float32, qs []int8, _ []int32) float32 {
	var acc float32
	for b := range d {
		blk := row[b*iq4nlSize : (b+1)*iq4nlSize]
		q := qs[b*qk : (b+1)*qk]
		var s int32
		for i, w := range blk[2:18] {
			s += int32(iq4nl[w&0x0f])*int32(q[i]) + int32(iq4nl[w>>4])*int32(q[i+16])
		}
		acc += f16At(blk) * d[b] * float32(s)
	}
	return acc
}

// dotQ2KGo: a 16-element sub-block lies in one activation block, so its
// scaled sum and its min's share of Σqx are both exact integers.
func dotQ2KGo(row []byte, d []float32, qs []int8, _ []int32) float32 {
	var acc float32
	for sb := 0; sb < len(d)/8; sb++ {
		blk := row[sb*q2KBytes : (sb+1)*q2KBytes]
		scales, wq := blk[0:16], blk[16:80]
		x := qs[sb*qkK : (sb+1)*qkK]
		for b := 0; b < 8; b++ { // activation blocks of 32: two sub-blocks each
			var s, m int32
			for e := 32 * b; e < 32*b+32; e++ {
				sc := scales[e/16]
				s += int32(sc&0x0f) * q2Plane(wq, e) * int32(x[e])
				m += int32(sc>>4) * int32(x[e])
			}
			acc += d[8*sb+b] * (f16At(blk[80:])*float32(s) - f16At(blk[82:])*float32(m))
		}
	}
	return acc
}

func dotQ3KGo(row []byte, d []float32, qs []int8, _ []int32) float32 {
	var acc float32
	for sb := 0; sb < len(d)/8; sb++ {
		blk := row[sb*q3KBytes : (sb+1)*q3KBytes]
		hmask, wq := blk[0:32], blk[32:96]
		sc := q3KScales(blk[96:108])
		x := qs[sb*qkK : (sb+1)*qkK]
		for b := 0; b < 8; b++ {
			var s int32
			for e := 32 * b; e < 32*b+32; e++ {
				s += sc[e/16] * q3Quant(hmask, wq, e) * int32(x[e])
			}
			acc += d[8*sb+b] * f16At(blk[108:]) * float32(s)
		}
	}
	return acc
}

// dotQ5KGo is dotQ4KGo with the fifth bits.
func dotQ5KGo(row []byte, d []float32, qs []int8, bs []int16) float32 {
	var acc float32
	for sb := range d {
		blk := row[sb*q5KBytes : (sb+1)*q5KBytes]
		qh, wq := blk[16:48], blk[48:176]
		x := qs[sb*qkK : (sb+1)*qkK]
		var s [8]int32
		for c := 0; c < 4; c++ {
			for l, w := range wq[32*c : 32*c+32] {
				s[2*c] += (int32(w&0x0f) | int32(qh[l]>>(2*c)&1)<<4) * int32(x[64*c+l])
				s[2*c+1] += (int32(w>>4) | int32(qh[l]>>(2*c+1)&1)<<4) * int32(x[64*c+32+l])
			}
		}
		acc += kSuperBlock(blk, d[sb], &s, bs[16*sb:16*sb+16])
	}
	return acc
}

func dotIQ4XSGo(row []byte, d []float32, qs []int8, _ []int32) float32 {
	var acc float32
	for sb := 0; sb < len(d)/8; sb++ {
		blk := row[sb*iq4xsSize : (sb+1)*iq4xsSize]
		dw := f16At(blk)
		for j := 0; j < 8; j++ {
			x := qs[(8*sb+j)*qk : (8*sb+j+1)*qk]
			var s int32
			for i, w := range blk[8+16*j : 8+16*j+16] {
				s += int32(iq4nl[w&0x0f])*int32(x[i]) + int32(iq4nl[w>>4])*int32(x[i+16])
			}
			acc += dw * d[8*sb+j] * float32(iq4xsScale(blk, j)) * float32(s)
		}
	}
	return acc
}
