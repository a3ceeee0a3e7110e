package kernels

import "github.com/runnel/runnel/engine/ggml"

// The two-row kernels are in introws_amd64.h, assembled in both builds
// (intdot_avx2_amd64.s, intdot_vnni_amd64.s).

//go:noescape
func dotQ80x2AVX2(row *byte, rowBytes int, d *float32, qs *int8, nb int, dst *float32)

//go:noescape
func dotQ50x2AVX2(row *byte, rowBytes int, d *float32, qs *int8, c16 *int32, nb int, dst *float32)

//go:noescape
func dotQ80x2VNNI(row *byte, rowBytes int, d *float32, qs *int8, nb int, dst *float32)

//go:noescape
func dotQ50x2VNNI(row *byte, rowBytes int, d *float32, qs *int8, c16 *int32, nb int, dst *float32)

// rowPairs reports whether dotRowPairs has kernels on this CPU and is on.
func rowPairs() bool { return hasAVX2 && rowPairsOn }

// rowPairsOn is SetRowPairs' switch, off by default where the VNNI build
// runs: on the AVX-512 EPYC the pairs (either build) stream rows from
// memory at 0.75-0.8x the one-row kernels, two streams that its hardware
// prefetcher serves worse than one, software prefetch or not, and
// one-stream decode at 0.5B and 1B reads every row from memory (docs/
// benchmarks.md, vnnidec session). In the caches they are 1.5-1.8x.
var rowPairsOn = !vnniOK

// SetRowPairs turns the two-row kernels of one-vector products on or off
// and reports whether they were on, for tests and for benchmarks that
// compare them with the one-row kernels in one process (the results are
// the same bits). Call it only while no product runs.
func SetRowPairs(on bool) bool {
	was := rowPairsOn
	rowPairsOn = on
	return was
}

// SetVNNI selects the integer kernels' AVX-512 VNNI build (where the CPU
// has it and RUNNEL_NOVNNI did not turn it off) or their AVX2 build, and
// reports whether VNNI was in use, for benchmarks that compare the two in
// one process (the results are the same bits). Call it only while no
// product runs.
func SetVNNI(on bool) bool {
	was := useVNNI
	useVNNI = on && vnniOK
	return was
}

// dotRowPairs computes dst[i] for the leading even number of nrows rows
// of type t (rowBytes apart) against one quantized vector (block scales
// d, quants qs, and for Q5_0 x4corr's c16, else nil), two rows per call,
// and returns how many it did: 0 where there is no two-row kernel for t.
// Both builds give the one-row kernels' bits.
func dotRowPairs(t ggml.Type, rows []byte, rowBytes, nrows int, d []float32, qs []int8, c16 []int32, dst []float32) int {
	nb := len(d)
	if !rowPairs() || nrows < 2 || nb == 0 {
		return 0
	}
	pairs := nrows &^ 1
	// The assembly trusts these; called directly, not through a func
	// value, which escape analysis cannot see through.
	_, _ = qs[nb*qk-1], dst[pairs-1]
	switch t {
	case ggml.Q8_0:
		_ = rows[(pairs-1)*rowBytes+nb*q80Bytes-1]
		for i := 0; i < pairs; i += 2 {
			if useVNNI {
				dotQ80x2VNNI(&rows[i*rowBytes], rowBytes, &d[0], &qs[0], nb, &dst[i])
			} else {
				dotQ80x2AVX2(&rows[i*rowBytes], rowBytes, &d[0], &qs[0], nb, &dst[i])
			}
		}
	case ggml.Q5_0:
		if len(c16) == 0 {
			return 0
		}
		_, _ = rows[(pairs-1)*rowBytes+nb*q50Bytes-1], c16[nb*qk/4-1]
		for i := 0; i < pairs; i += 2 {
			if useVNNI {
				dotQ50x2VNNI(&rows[i*rowBytes], rowBytes, &d[0], &qs[0], &c16[0], nb, &dst[i])
			} else {
				dotQ50x2AVX2(&rows[i*rowBytes], rowBytes, &d[0], &qs[0], &c16[0], nb, &dst[i])
			}
		}
	default:
		return 0
	}
	return pairs
}
