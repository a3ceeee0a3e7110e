package model

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/internal/cputime"
)

// BenchmarkShapesX8 compares the eight-vector tiles with the four-vector
// ones (kernels.SetEightVectorTiles) on BenchmarkShapes' files and
// settings: 8 sequences decoding in lockstep, and a 128-token prompt. On a
// machine other jobs load, separate runs differ by more than the tiles
// do, so each of b.N rounds runs the work once per setting in ABBA order,
// each in CPU time, and the benchmark reports the median over rounds of
// the speed ratio x8/x4 (above 1: the eight-vector tiles are faster),
// besides each setting's median tokens per CPU second. Run with -cpu 1.
func BenchmarkShapesX8(b *testing.B) { pairedShapes(b, kernels.SetEightVectorTiles) }

// BenchmarkShapesQ4KX8 is BenchmarkShapesX8 with only the Q4_K
// eight-vector tile turned off and on (kernels.SetQ4KEightVectorTile),
// the other types' eight-vector tiles on throughout.
func BenchmarkShapesQ4KX8(b *testing.B) { pairedShapes(b, kernels.SetQ4KEightVectorTile) }

// BenchmarkShapesQ6KVNNI compares the VNNI build's Q6_K eight-vector tile
// (on) with the AVX2 one (off) on a VNNI machine.
func BenchmarkShapesQ6KVNNI(b *testing.B) { pairedShapes(b, kernels.SetQ6KVNNITile) }

// BenchmarkShapesUnsigned compares the VNNI build's Q8_0 and Q5_0 tiles
// with unsigned activations (on, kernels.SetUnsignedTiles) with the ones
// with per-vector corrections (off) on a VNNI machine, as
// BenchmarkShapesX8 does (rates reported as x4 for off, x8 for on), and
// for 4 sequences too, which take the four-vector tiles.
func BenchmarkShapesUnsigned(b *testing.B) { pairedShapes(b, kernels.SetUnsignedTiles, 4, 8) }

// BenchmarkShapesUnsignedWall is BenchmarkShapesUnsigned's prompt
// by the wall clock (tok/s), which on a quiet machine says what the two
// workers together gain.
func BenchmarkShapesUnsignedWall(b *testing.B) {
	files, _ := benchFiles(b)
	set := kernels.SetUnsignedTiles
	defer set(set(true))
	wall := func() time.Duration { return time.Duration(time.Now().UnixNano()) }
	for _, f := range files {
		m, name := openShapes(b, f)
		b.Run(name+"/prompt", func(b *testing.B) {
			pairedRatesBy(b, wall, "tok/s", set, promptRun(b, m), shapesTokens, "corr", "unsigned")
		})
		m.Close()
	}
}

// pairedShapes runs pairedX8 on BenchmarkShapes' files, for 8 sequences
// (or each count in ns) decoding and for a prompt, with the tiles that set
// turns off and on.
func pairedShapes(b *testing.B, set func(on bool) bool, ns ...int) {
	files, steps := benchFiles(b)
	defer set(set(true))
	if len(ns) == 0 {
		ns = []int{8}
	}
	for _, f := range files {
		m, name := openShapes(b, f)
		for _, n := range ns {
			b.Run(name+"/decode/n="+strconv.Itoa(n), func(b *testing.B) {
				pairedX8(b, set, decodeRun(b, m, n, steps), n*steps)
			})
		}
		b.Run(name+"/prompt", func(b *testing.B) {
			pairedX8(b, set, promptRun(b, m), shapesTokens)
		})
		m.Close()
	}
}

// pairedX8 runs work (tokens tokens) with the eight-vector tiles that set
// turns off and on, ABBA each round, and reports the rates and the median
// ratio.
func pairedX8(b *testing.B, set func(on bool) bool, work func(), tokens int) {
	pairedRates(b, set, work, tokens, "x4", "x8")
}

// pairedRates runs work (tokens tokens) with what set turns off and on,
// ABBA each round, and reports the rates (off-tok/cpu-s, on-tok/cpu-s)
// and the median ratio on/off of the speeds, with its range.
func pairedRates(b *testing.B, set func(on bool) bool, work func(), tokens int, off, on string) {
	pairedRatesBy(b, cputime.Process, "tok/cpu-s", set, work, tokens, off, on)
}

// pairedRatesBy is pairedRates by another clock, its rates reported in
// unit: the process's CPU time (tok/cpu-s) or the wall clock (tok/s).
func pairedRatesBy(b *testing.B, clock func() time.Duration, unit string, set func(on bool) bool, work func(), tokens int, off, on string) {
	timed := func(on bool) float64 {
		set(on)
		start := clock()
		work()
		return float64(clock()-start) / float64(time.Second)
	}
	var r4, r8, ratio []float64
	for b.Loop() {
		a4, a8 := timed(false), timed(true)
		c8, c4 := timed(true), timed(false)
		r4 = append(r4, float64(2*tokens)/(a4+c4))
		r8 = append(r8, float64(2*tokens)/(a8+c8))
		ratio = append(ratio, (a4+c4)/(a8+c8))
	}
	b.ReportMetric(medianOf(r4), off+"-"+unit)
	b.ReportMetric(medianOf(r8), on+"-"+unit)
	b.ReportMetric(medianOf(ratio), on+"/"+off)
	b.ReportMetric(slices.Min(ratio), "min-"+on+"/"+off)
	b.ReportMetric(slices.Max(ratio), "max-"+on+"/"+off)
}

func medianOf(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
