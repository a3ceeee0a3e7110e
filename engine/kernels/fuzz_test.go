package kernels

import (
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// FuzzDequantize feeds arbitrary bytes as every type: Dequantize must reject
// sizes that are not whole blocks with an error and decode the rest without
// panicking; MatVec over the same bytes must agree with the decoded rows'
// sizes (no out-of-range reads).
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(ggml.Q4_K), uint16(256), make([]byte, 144))
	f.Add(uint8(ggml.Q6_K), uint16(256), make([]byte, 210))
	f.Add(uint8(ggml.Q8_0), uint16(32), []byte("0123456789abcdef0123456789abcdef01"))
	f.Add(uint8(ggml.Q4_0), uint16(64), make([]byte, 36))
	f.Add(uint8(ggml.F16), uint16(3), []byte{0, 0x3c, 0xff, 0x7b, 1, 0})
	f.Add(uint8(ggml.BF16), uint16(1), []byte{0x80, 0x3f})
	f.Add(uint8(ggml.F32), uint16(1), []byte{0, 0, 0x80, 0x3f})
	f.Add(uint8(ggml.Q5_K), uint16(256), make([]byte, 176))
	f.Add(uint8(ggml.Q4_1), uint16(32), make([]byte, 20))
	f.Add(uint8(ggml.Q5_0), uint16(64), make([]byte, 44))
	f.Add(uint8(ggml.Q5_1), uint16(32), make([]byte, 24))
	f.Add(uint8(ggml.IQ4_NL), uint16(32), make([]byte, 18))
	f.Add(uint8(ggml.Q2_K), uint16(256), make([]byte, 84))
	f.Add(uint8(ggml.Q3_K), uint16(256), make([]byte, 110))
	f.Add(uint8(ggml.IQ4_XS), uint16(256), make([]byte, 136))
	f.Add(uint8(ggml.IQ2_XXS), uint16(256), make([]byte, 66))
	f.Fuzz(func(t *testing.T, typ uint8, n uint16, src []byte) {
		ty := ggml.Type(typ)
		dst := make([]float32, n)
		err := Dequantize(dst, ty, src)
		rb, rerr := ggml.RowBytes(ty, int(n))
		ok := Supported(ty) && rerr == nil && rb == len(src)
		if (err == nil) != ok {
			t.Fatalf("Dequantize(%s, %d elems, %d bytes) err = %v, want ok=%v", ty, n, len(src), err, ok)
		}
		if !ok || n == 0 {
			return
		}
		m, err := NewMatrix(ty, 1, int(n), src)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		out := make([]float32, 1)
		MatVec(out, m, x)
	})
}
