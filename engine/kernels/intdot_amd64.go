package kernels

import (
	"os"

	"golang.org/x/sys/cpu"
)

// The integer kernels of intdot_amd64.h, in their AVX2 and AVX-512 VNNI
// builds. The wrappers check lengths (the assembly trusts them) and pick
// the build by a flag rather than through a func variable, which escape
// analysis cannot see through.

//go:noescape
func dotQ80AVX2(row *byte, d *float32, qs *int8, nb int) float32

//go:noescape
func dotQ40AVX2(row *byte, d *float32, qs *int8, nb int) float32

//go:noescape
func dotQ50AVX2(row *byte, d *float32, qs *int8, nb int) float32

//go:noescape
func dotQ4KAVX2(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32

//go:noescape
func dotQ5KAVX2(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32

//go:noescape
func dotQ6KAVX2(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32

//go:noescape
func dotQ80VNNI(row *byte, d *float32, qs *int8, nb int) float32

//go:noescape
func dotQ40VNNI(row *byte, d *float32, qs *int8, nb int) float32

//go:noescape
func dotQ50VNNI(row *byte, d *float32, qs *int8, nb int) float32

//go:noescape
func dotQ4KVNNI(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32

//go:noescape
func dotQ5KVNNI(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32

//go:noescape
func dotQ6KVNNI(row *byte, d *float32, qs *int8, bs *int16, nsb int) float32

// useVNNI selects the VPDPBUSD builds: 256-bit EVEX instructions need
// AVX512VL besides AVX512_VNNI. RUNNEL_NOVNNI=1 keeps the AVX2 ones.
var useVNNI = vnniOK

// vnniOK says whether the VNNI builds may run (SetVNNI's limit).
var vnniOK = hasAVX2 && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL && os.Getenv("RUNNEL_NOVNNI") == ""

func dotQ80Asm(row []byte, d []float32, qs []int8) float32 {
	nb := len(d)
	if nb == 0 {
		return 0
	}
	_, _ = row[nb*q80Bytes-1], qs[nb*qk-1]
	if useVNNI {
		return dotQ80VNNI(&row[0], &d[0], &qs[0], nb)
	}
	return dotQ80AVX2(&row[0], &d[0], &qs[0], nb)
}

func dotQ40Asm(row []byte, d []float32, qs []int8) float32 {
	nb := len(d)
	if nb == 0 {
		return 0
	}
	_, _ = row[nb*q40Bytes-1], qs[nb*qk-1]
	if useVNNI {
		return dotQ40VNNI(&row[0], &d[0], &qs[0], nb)
	}
	return dotQ40AVX2(&row[0], &d[0], &qs[0], nb)
}

func dotQ50Asm(row []byte, d []float32, qs []int8, _ []int32) float32 {
	nb := len(d)
	if nb == 0 {
		return 0
	}
	_, _ = row[nb*q50Bytes-1], qs[nb*qk-1]
	if useVNNI {
		return dotQ50VNNI(&row[0], &d[0], &qs[0], nb)
	}
	return dotQ50AVX2(&row[0], &d[0], &qs[0], nb)
}

func dotQ4KAsm(row []byte, d []float32, qs []int8, bs []int16) float32 {
	nsb := len(d)
	if nsb == 0 {
		return 0
	}
	_, _, _ = row[nsb*q4KBytes-1], qs[nsb*qkK-1], bs[nsb*16-1]
	if useVNNI {
		return dotQ4KVNNI(&row[0], &d[0], &qs[0], &bs[0], nsb)
	}
	return dotQ4KAVX2(&row[0], &d[0], &qs[0], &bs[0], nsb)
}

func dotQ5KAsm(row []byte, d []float32, qs []int8, bs []int16) float32 {
	nsb := len(d)
	if nsb == 0 {
		return 0
	}
	_, _, _ = row[nsb*q5KBytes-1], qs[nsb*qkK-1], bs[nsb*16-1]
	if useVNNI {
		return dotQ5KVNNI(&row[0], &d[0], &qs[0], &bs[0], nsb)
	}
	return dotQ5KAVX2(&row[0], &d[0], &qs[0], &bs[0], nsb)
}

func dotQ6KAsm(row []byte, d []float32, qs []int8, bs []int16) float32 {
	nsb := len(d)
	if nsb == 0 {
		return 0
	}
	_, _, _ = row[nsb*q6KBytes-1], qs[nsb*qkK-1], bs[nsb*16-1]
	if useVNNI {
		return dotQ6KVNNI(&row[0], &d[0], &qs[0], &bs[0], nsb)
	}
	return dotQ6KAVX2(&row[0], &d[0], &qs[0], &bs[0], nsb)
}

//go:noescape
func quantizeQ8AVX2(d *float32, qs *int8, sum *int32, x *float32, nb int)

func quantizeQ8Asm(d []float32, qs []int8, sum []int32, x []float32) {
	nb := len(d)
	if nb == 0 {
		return
	}
	_, _, _ = qs[nb*qk-1], sum[nb-1], x[nb*qk-1]
	quantizeQ8AVX2(&d[0], &qs[0], &sum[0], &x[0], nb)
}

//go:noescape
func quantizeQ8KAVX2(d *float32, qs *int8, bs *int16, x *float32, nsb int)

func quantizeQ8KAsm(d []float32, qs []int8, bs []int16, x []float32) {
	nsb := len(d)
	if nsb == 0 {
		return
	}
	_, _, _ = qs[nsb*qkK-1], bs[nsb*16-1], x[nsb*qkK-1]
	quantizeQ8KAVX2(&d[0], &qs[0], &bs[0], &x[0], nsb)
}
