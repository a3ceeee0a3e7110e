package kernels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/runnel/runnel/engine/ggml"
)

// Block layouts, as GGUF stores them (all little-endian):
//
//	Q8_0  (32 elems, 34 B):  d f16 | qs[32] int8                  x = d*q
//	Q4_0  (32 elems, 18 B):  d f16 | qs[16] nibbles               x = d*(q-8); low nibbles are
//	                                                               elements 0..15, high 16..31
//	Q4_K (256 elems, 144 B): d f16 | dmin f16 | scales[12] | qs[128]
//	      8 sub-blocks of 32, each with a 6-bit scale sc and min m packed in scales;
//	      x = d*sc*q - dmin*m. qs[32c+l] holds element 64c+l (low nibble) and 64c+32+l (high).
//	Q6_K (256 elems, 210 B): ql[128] | qh[64] | scales[16] int8 | d f16
//	      16 sub-blocks of 16; x = d*scale*(q-32), q = 4 low bits from ql, 2 high from qh.
const (
	q80Bytes = 34
	q40Bytes = 18
	q4KBytes = 144
	q6KBytes = 210
	qk       = 32
	qkK      = 256
)

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
	case ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_K, ggml.Q6_K:
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
	case ggml.Q8_0:
		for b := 0; b < len(dst)/qk; b++ {
			blk := src[b*q80Bytes : (b+1)*q80Bytes]
			d := f16At(blk)
			y := dst[b*qk : (b+1)*qk]
			for i := range y {
				y[i] = d * float32(int8(blk[2+i]))
			}
		}
	case ggml.Q4_0:
		for b := 0; b < len(dst)/qk; b++ {
			blk := src[b*q40Bytes : (b+1)*q40Bytes]
			d := f16At(blk)
			y := dst[b*qk : (b+1)*qk]
			for i, v := range blk[2:18] {
				y[i] = d * float32(int(v&0x0f)-8)
				y[i+16] = d * float32(int(v>>4)-8)
			}
		}
	case ggml.Q4_K:
		for b := 0; b < len(dst)/qkK; b++ {
			dequantQ4K(dst[b*qkK:(b+1)*qkK], src[b*q4KBytes:(b+1)*q4KBytes])
		}
	case ggml.Q6_K:
		for b := 0; b < len(dst)/qkK; b++ {
			dequantQ6K(dst[b*qkK:(b+1)*qkK], src[b*q6KBytes:(b+1)*q6KBytes])
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

// Quantize encodes src as type t (F32, F16, BF16, Q8_0 or Q4_0). For the
// block types len(src) must be a multiple of 32. Q8_0 and Q4_0 follow
// llama.cpp's reference quantizers, so files we write decode identically there.
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
