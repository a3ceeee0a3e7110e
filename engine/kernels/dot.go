package kernels

import (
	"encoding/binary"
	"math"
)

// Portable dot products, one per weight type. The fast paths in the
// architecture files must give the same results up to float rounding; the
// tests compare them on random data.
//
// The quantized types (Q8_0, Q4_0, Q4_K, Q6_K) are dotted against an
// activation vector that was itself quantized to Q8_0-style blocks of 32
// (see qvec), so the inner loops are integer multiply-adds, as in llama.cpp.
// Every weight sub-block (32 elements for Q8_0/Q4_0/Q4_K, 16 for Q6_K) lies
// inside one activation block, so each block contributes
// dw * dx * Σ qw·qx exactly in integers, and the only error beyond float
// rounding is the activation's rounding, at most dx/2 per element.

// qvec is an activation vector quantized in blocks of 32: x[i] ≈ d[i/32]*qs[i].
// sum holds Σ qs over each block, for the Q4_K min term.
type qvec struct {
	d   []float32
	qs  []int8
	sum []int32
}

// quantizeX fills v from x (len(x) a multiple of 32), growing v's buffers.
func (v *qvec) quantize(x []float32) {
	nb := len(x) / qk
	v.d = grow(v.d, nb)
	v.sum = grow(v.sum, nb)
	v.qs = grow(v.qs, len(x))
	quantizeQ8(v.d, v.qs, v.sum, x)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func quantizeQ8Go(d []float32, qs []int8, sum []int32, x []float32) {
	for b := range d {
		xb := x[b*qk : (b+1)*qk]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		db := amax / 127
		id := float32(0)
		if db != 0 {
			id = 127 / amax
		}
		d[b] = db
		q := qs[b*qk : (b+1)*qk]
		var s int32
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
			s += r
		}
		sum[b] = s
	}
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

func dotQ4KGo(row []byte, d []float32, qs []int8, sum []int32) float32 {
	var acc float32
	for sb := 0; sb < len(d)/8; sb++ {
		blk := row[sb*q4KBytes : (sb+1)*q4KBytes]
		dw, dmin := f16At(blk), f16At(blk[2:])
		scales, wq := blk[4:16], blk[16:144]
		for c := 0; c < 4; c++ {
			xb := 8*sb + 2*c
			x0, x1 := qs[xb*qk:(xb+1)*qk], qs[(xb+1)*qk:(xb+2)*qk]
			var s0, s1 int32
			for l, w := range wq[32*c : 32*c+32] {
				s0 += int32(w&0x0f) * int32(x0[l])
				s1 += int32(w>>4) * int32(x1[l])
			}
			sc0, m0 := q4KScaleMin(2*c, scales)
			sc1, m1 := q4KScaleMin(2*c+1, scales)
			acc += d[xb]*(dw*float32(sc0)*float32(s0)-dmin*float32(m0)*float32(sum[xb])) +
				d[xb+1]*(dw*float32(sc1)*float32(s1)-dmin*float32(m1)*float32(sum[xb+1]))
		}
	}
	return acc
}

func dotQ6KGo(row []byte, d []float32, qs []int8) float32 {
	var acc float32
	for sb := 0; sb < len(d)/8; sb++ {
		blk := row[sb*q6KBytes : (sb+1)*q6KBytes]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		dw := f16At(blk[208:])
		for h := 0; h < 2; h++ {
			l4, h2 := ql[64*h:64*h+64], qh[32*h:32*h+32]
			for k := 0; k < 4; k++ {
				xb := 8*sb + 4*h + k
				x := qs[xb*qk : (xb+1)*qk]
				lo := l4[32*(k&1) : 32*(k&1)+32]
				shiftL := uint(4 * (k >> 1)) // k 0,1: low nibble; k 2,3: high
				shiftH := uint(2 * k)
				var s [2]int32
				for l := 0; l < 32; l++ {
					q := int32((lo[l]>>shiftL)&0x0f|((h2[l]>>shiftH)&3)<<4) - 32
					s[l>>4] += q * int32(x[l])
				}
				is := 8*h + 2*k
				acc += dw * d[xb] * (float32(int8(sc[is]))*float32(s[0]) + float32(int8(sc[is+1]))*float32(s[1]))
			}
		}
	}
	return acc
}
