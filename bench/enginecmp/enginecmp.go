// Package enginecmp measures Runnel's built-in engine on GGUF files and,
// given a llama.cpp build, llama-bench and llama-server on the same files,
// in interleaved rounds, and reports the ratios: decoding 128 tokens,
// processing a 128-token prompt, and the aggregate decode rate of 8
// concurrent streams. For decoding it also reports the physical limit:
// the weight bytes read per token against the memory bandwidth measured
// by a copy in the same run.
package enginecmp

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/runnel/runnel/engine/gguf"
)

// Config is one comparison.
type Config struct {
	Files    []string // GGUF models
	LlamaCpp string   // a llama.cpp build (its directory, bin/ or build/bin/); "" runs Runnel alone
	Rounds   int      // rounds over all files and programs (default 3)
	Threads  int      // cores for both engines (default GOMAXPROCS)
	Streams  int      // concurrent streams of the aggregate test (default 8)
	Tokens   int      // tokens decoded and prompt length (default 128)
	// DecodeRuns is how many decode measurements each program makes per
	// file and round (default 5), alternating with the other program's:
	// one of 128 tokens of a small model lasts a tenth of a second, which
	// a shared machine's neighbours swing by half.
	DecodeRuns int
	Log        io.Writer
}

// Figures are one program's rates on one file in one round, in tokens
// per second. Decode is the median of DecodeRuns, that round's decode
// measurements in order (paired run by run with the other program's).
// Runnel's Aggregate is the median of AggregateRuns, each measured right
// before the decode run of the same index, so that Batching (the ratio
// of the two medians) and each pair's ratio compare rates of the same
// minute; llama.cpp's Aggregate is one measurement. DecodeCPU and
// AggregateCPU are Runnel's runs again in tokens per second of the
// process's CPU time, which a host that lends the process less of its
// cores for a while changes less than the wall clock.
type Figures struct {
	Decode, Prompt, Aggregate float64
	DecodeRuns, AggregateRuns []float64
	DecodeCPU, AggregateCPU   []float64
}

// Batching is Runnel's streams ÷ one stream, the ratio of the medians of
// AggregateRuns and DecodeRuns (0 without them).
func (f Figures) Batching() float64 { return ratioOfMedians(f.AggregateRuns, f.DecodeRuns) }

// BatchingPairs is AggregateRuns ÷ DecodeRuns, pair by pair.
func (f Figures) BatchingPairs() []float64 { return pairRatios(f.AggregateRuns, f.DecodeRuns) }

// BatchingCPU is Batching by CPU time.
func (f Figures) BatchingCPU() float64 { return ratioOfMedians(f.AggregateCPU, f.DecodeCPU) }

// BatchingCPUPairs is BatchingPairs by CPU time.
func (f Figures) BatchingCPUPairs() []float64 { return pairRatios(f.AggregateCPU, f.DecodeCPU) }

func ratioOfMedians(num, den []float64) float64 {
	if len(num) == 0 || Median(den) <= 0 {
		return 0
	}
	return Median(num) / Median(den)
}

func pairRatios(num, den []float64) []float64 {
	var out []float64
	for k := range min(len(num), len(den)) {
		if den[k] > 0 {
			out = append(out, num[k]/den[k])
		}
	}
	return out
}

// rate is a measurement's tokens per second of the wall clock and of the
// process's CPU time.
type rate struct{ wall, cpu float64 }

// FileResult holds every round's figures for one file.
type FileResult struct {
	File        string
	WeightBytes int64 // read per decoded token
	Runnel      []Figures
	Llama       []Figures // empty without a llama.cpp build
}

// Result is a whole comparison.
type Result struct {
	Config
	Bandwidth []float64 // copy bandwidth of each round, bytes/s
	Files     []FileResult
}

func (c *Config) defaults() {
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.Threads <= 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if c.Streams <= 0 {
		c.Streams = 8
	}
	if c.Tokens <= 0 {
		c.Tokens = 128
	}
	if c.DecodeRuns <= 0 {
		c.DecodeRuns = 5
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Run measures every file in c.Rounds rounds. In each round, each file is
// measured by Runnel and then by llama.cpp, so slow drifts of a shared
// machine's load fall on both alike; their decode runs alternate one by
// one (Runnel, llama.cpp, Runnel, …), so each pair shares its minute.
// Runnel's own ratio, c.Streams streams ÷ one, is measured the same way:
// each of its decode runs follows an aggregate run, so a round is
// c.DecodeRuns pairs alternating 8 streams and one (ABAB…), and a drift
// of the host's speed falls on both sides of the ratio.
func Run(ctx context.Context, c Config) (*Result, error) {
	c.defaults()
	var llama *llamaCpp
	if c.LlamaCpp != "" {
		var err error
		if llama, err = findLlamaCpp(c.LlamaCpp); err != nil {
			return nil, err
		}
	}
	rn, err := newRunnel(c)
	if err != nil {
		return nil, err
	}
	defer rn.close()
	var other engineRunner
	if llama != nil {
		other = llamaRunner{llama, c}
	}
	return runRounds(ctx, c, rn, other, copyBandwidth)
}

// runnelRunner is what runRounds measures Runnel with (file i of
// c.Files); tests give it a fake.
type runnelRunner interface {
	prepare(ctx context.Context, i int) error
	decode(ctx context.Context, i int) (rate, error)
	aggregate(ctx context.Context, i int) (rate, error)
	prompt(ctx context.Context, i int) (float64, error)
}

// engineRunner is the engine Runnel is compared with, by file path.
type engineRunner interface {
	decode(ctx context.Context, file string) (float64, error)
	prompt(ctx context.Context, file string) (float64, error)
	aggregate(ctx context.Context, file string) (float64, error)
}

type llamaRunner struct {
	l *llamaCpp
	c Config
}

func (r llamaRunner) decode(ctx context.Context, f string) (float64, error) {
	return r.l.decode(ctx, f, r.c)
}
func (r llamaRunner) prompt(ctx context.Context, f string) (float64, error) {
	return r.l.prompt(ctx, f, r.c)
}
func (r llamaRunner) aggregate(ctx context.Context, f string) (float64, error) {
	return r.l.aggregate(ctx, f, r.c)
}

// runRounds is Run's rounds, with Runnel measured by rn, the other engine
// (nil: none) by other, and the copy bandwidth by bandwidth.
func runRounds(ctx context.Context, c Config, rn runnelRunner, other engineRunner, bandwidth func(threads int) float64) (*Result, error) {
	c.defaults()
	res := &Result{Config: c}
	for _, f := range c.Files {
		wb, err := weightBytes(f)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, FileResult{File: f, WeightBytes: wb})
	}
	for round := 1; round <= c.Rounds; round++ {
		bw := bandwidth(c.Threads)
		res.Bandwidth = append(res.Bandwidth, bw)
		fmt.Fprintf(c.Log, "round %d: copy bandwidth %.2f GB/s\n", round, bw/1e9)
		for i := range res.Files {
			fr := &res.Files[i]
			name := filepath.Base(fr.File)
			fail := func(who string, err error) (*Result, error) {
				return nil, fmt.Errorf("%s on %s: %w", who, fr.File, err)
			}
			if err := rn.prepare(ctx, i); err != nil {
				return fail("runnel", err)
			}
			var rf, lf Figures
			for run := 1; run <= c.DecodeRuns; run++ {
				// The aggregate run first, so that each decode run sits
				// between the two it is compared with.
				a, err := rn.aggregate(ctx, i)
				if err != nil {
					return fail("runnel", err)
				}
				d, err := rn.decode(ctx, i)
				if err != nil {
					return fail("runnel", err)
				}
				rf.DecodeRuns = append(rf.DecodeRuns, d.wall)
				rf.AggregateRuns = append(rf.AggregateRuns, a.wall)
				rf.DecodeCPU = append(rf.DecodeCPU, d.cpu)
				rf.AggregateCPU = append(rf.AggregateCPU, a.cpu)
				line := fmt.Sprintf("round %d %s run %d: runnel decode %.1f tok/s (%.1f tok/cpu-s), %d streams %.1f tok/s (%.1f tok/cpu-s), %d÷1 %.2f (by CPU time %.2f)",
					round, name, run, d.wall, d.cpu, c.Streams, a.wall, a.cpu, c.Streams, a.wall/d.wall, a.cpu/d.cpu)
				if other != nil {
					ld, err := other.decode(ctx, fr.File)
					if err != nil {
						return fail("llama.cpp", err)
					}
					lf.DecodeRuns = append(lf.DecodeRuns, ld)
					line += fmt.Sprintf("; llama.cpp decode %.1f tok/s, ratio %.2f", ld, d.wall/ld)
				}
				fmt.Fprintln(c.Log, line)
			}
			rf.Decode, rf.Aggregate = Median(rf.DecodeRuns), Median(rf.AggregateRuns)
			var err error
			if rf.Prompt, err = rn.prompt(ctx, i); err != nil {
				return fail("runnel", err)
			}
			fr.Runnel = append(fr.Runnel, rf)
			fmt.Fprintf(c.Log, "round %d %s runnel: %s\n", round, name, rf)
			if other != nil {
				lf.Decode = Median(lf.DecodeRuns)
				if lf.Prompt, err = other.prompt(ctx, fr.File); err == nil {
					lf.Aggregate, err = other.aggregate(ctx, fr.File)
				}
				if err != nil {
					return fail("llama.cpp", err)
				}
				fr.Llama = append(fr.Llama, lf)
				fmt.Fprintf(c.Log, "round %d %s llama.cpp: %s\n", round, name, lf)
			}
		}
	}
	return res, nil
}

func (f Figures) String() string {
	s := fmt.Sprintf("decode %.1f tok/s (median of %d), prompt %.1f tok/s, aggregate %.1f tok/s", f.Decode, len(f.DecodeRuns), f.Prompt, f.Aggregate)
	if len(f.AggregateRuns) > 0 {
		s += fmt.Sprintf(" (median of %d), aggregate ÷ decode %.2f (by CPU time %.2f)", len(f.AggregateRuns), f.Batching(), f.BatchingCPU())
	}
	return s
}

// weightBytes is what decoding one token reads of the file's weights:
// every matrix once (the output one included, which a tied embedding is),
// but of an untied embedding only its one row.
func weightBytes(path string) (int64, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	hasOutput := false
	for _, t := range f.Tensors {
		if t.Name == "output.weight" {
			hasOutput = true
		}
	}
	for _, t := range f.Tensors {
		size := int64(t.Size)
		if t.Name == "token_embd.weight" && hasOutput && len(t.Dims) == 2 {
			size /= int64(t.Dims[1])
		}
		n += size
	}
	return n, nil
}

// copyBandwidth copies a 256 MiB buffer with the given number of
// goroutines and returns the best of five passes in bytes per second,
// counting each byte read and written (STREAM's convention for copy).
func copyBandwidth(threads int) float64 {
	const size = 256 << 20
	src, dst := make([]byte, size), make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	best := 0.0
	for range 5 {
		start := time.Now()
		done := make(chan struct{})
		part := size / threads
		for t := range threads {
			go func() {
				copy(dst[t*part:(t+1)*part], src[t*part:(t+1)*part])
				done <- struct{}{}
			}()
		}
		for range threads {
			<-done
		}
		best = max(best, 2*size/time.Since(start).Seconds())
	}
	return best
}

// Median returns the median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pick(fs []Figures, k func(Figures) float64) []float64 {
	out := make([]float64, len(fs))
	for i, f := range fs {
		out[i] = k(f)
	}
	return out
}

// WriteTable prints medians, ranges and ratios (Runnel ÷ llama.cpp: the
// ratio of the medians, with the range of the per-round ratios).
func (r *Result) WriteTable(w io.Writer) {
	bw := Median(r.Bandwidth)
	fmt.Fprintf(w, "%d rounds of %d decode runs, %d threads; copy bandwidth median %.2f GB/s (range %.2f–%.2f)\n\n",
		r.Rounds, r.DecodeRuns, r.Threads, bw/1e9, slices.Min(r.Bandwidth)/1e9, slices.Max(r.Bandwidth)/1e9)
	tests := []struct {
		name string
		k    func(Figures) float64
	}{
		{fmt.Sprintf("decode %d", r.Tokens), func(f Figures) float64 { return f.Decode }},
		{fmt.Sprintf("prompt %d", r.Tokens), func(f Figures) float64 { return f.Prompt }},
		{fmt.Sprintf("%d streams", r.Streams), func(f Figures) float64 { return f.Aggregate }},
	}
	fmt.Fprintf(w, "%-28s %-10s %22s %22s %18s\n", "file", "test", "runnel tok/s", "llama.cpp tok/s", "ratio")
	for _, fr := range r.Files {
		for ti, t := range tests {
			rv := pick(fr.Runnel, t.k)
			line := fmt.Sprintf("%-28s %-10s %22s", filepath.Base(fr.File), t.name, spread(rv))
			if len(fr.Llama) > 0 {
				lv := pick(fr.Llama, t.k)
				ratios := make([]float64, len(rv))
				for i := range rv {
					ratios[i] = rv[i] / lv[i]
				}
				line += fmt.Sprintf(" %22s %6.2f (%.2f–%.2f)", spread(lv), Median(rv)/Median(lv), slices.Min(ratios), slices.Max(ratios))
			}
			fmt.Fprintln(w, line)
			if ti == 2 {
				writeBatching(w, fr, r.Streams)
			}
			if ti == 0 {
				limit := bw / float64(fr.WeightBytes)
				s := fmt.Sprintf("%-28s %-10s %22.1f   (%.1f MB a token): runnel at %.0f%%", "", "limit", limit, float64(fr.WeightBytes)/1e6, 100*Median(rv)/limit)
				if len(fr.Llama) > 0 {
					s += fmt.Sprintf(", llama.cpp at %.0f%%", 100*Median(pick(fr.Llama, t.k))/limit)
				}
				fmt.Fprintln(w, s)
				if len(fr.Llama) > 0 {
					pairs := decodePairs(fr)
					fmt.Fprintf(w, "%-28s %-10s %22s   runnel ÷ llama.cpp per decode run: median %.2f (%.2f–%.2f) of %d\n",
						"", "pairs", "", Median(pairs), slices.Min(pairs), slices.Max(pairs), len(pairs))
				}
			}
		}
	}
}

// writeBatching prints Runnel's streams ÷ one stream, by the wall clock
// and by CPU time: each round's ratio of its medians, and every pair's
// ratio.
func writeBatching(w io.Writer, fr FileResult, streams int) {
	for _, by := range []struct {
		test  string
		round func(Figures) float64
		pairs func(Figures) []float64
	}{
		{fmt.Sprintf("%d÷1", streams), Figures.Batching, Figures.BatchingPairs},
		{fmt.Sprintf("%d÷1 cpu", streams), Figures.BatchingCPU, Figures.BatchingCPUPairs},
	} {
		var rounds, pairs []float64
		for _, f := range fr.Runnel {
			if b := by.round(f); b > 0 {
				rounds = append(rounds, b)
			}
			pairs = append(pairs, by.pairs(f)...)
		}
		if len(rounds) == 0 {
			continue
		}
		per := make([]string, len(rounds))
		for i, b := range rounds {
			per[i] = fmt.Sprintf("%.2f", b)
		}
		fmt.Fprintf(w, "%-28s %-10s %22s   runnel's own, rounds %s; per pair: median %.2f (%.2f–%.2f) of %d\n", "", by.test,
			fmt.Sprintf("%.2f (%.2f–%.2f)", Median(rounds), slices.Min(rounds), slices.Max(rounds)), strings.Join(per, ", "),
			Median(pairs), slices.Min(pairs), slices.Max(pairs), len(pairs))
	}
}

// decodePairs is Runnel ÷ llama.cpp of every decode run of every round,
// each against the llama.cpp run that followed it.
func decodePairs(fr FileResult) []float64 {
	var out []float64
	for i := range min(len(fr.Runnel), len(fr.Llama)) {
		r, l := fr.Runnel[i].DecodeRuns, fr.Llama[i].DecodeRuns
		for k := range min(len(r), len(l)) {
			out = append(out, r[k]/l[k])
		}
	}
	return out
}

func spread(v []float64) string {
	return fmt.Sprintf("%.1f (%.1f–%.1f)", Median(v), slices.Min(v), slices.Max(v))
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
