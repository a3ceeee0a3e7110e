package engine

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/engine/synth"
	"github.com/runnel/runnel/internal/cputime"
	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/stream"
)

// Benchmarks of the whole engine, Provider to tokens: aggregate decode
// tokens/s with 1 and 8 concurrent streams (8 streams share decode steps
// through the batching scheduler), on stories260K and on a model of
// stories15M's shape with random weights. Run with
//
//	go test -run '^$' -bench Engine -benchtime 3x ./engine/
//
// Metrics: tok/s counts completion tokens over the wall time of the
// round; decode-tok/s uses the engine's own GenerationDuration (prefill
// excluded), summed over the streams of a round; peak-RSS-MB is the
// process's high-water mark.

// synthetic15M writes a llama2.c checkpoint of stories15M's shape with
// seeded random weights (package synth; synthbin writes the same file for
// run.c), beside llama 2's tokenizer.bin, and returns the directory.
func synthetic15M(b *testing.B) string {
	tok := testmodels.Path(b, "tokenizer.bin")
	dir := b.TempDir()
	if err := synth.WriteFile(filepath.Join(dir, "synthetic15M.bin"), synth.Stories15M, synth.Seed); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(tok)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	// The generator's weights must not count in the engine's peak RSS.
	runtime.GC()
	debug.FreeOSMemory()
	return dir
}

func BenchmarkEngine(b *testing.B) {
	parent := b // owns the model directories, which outlive each sub-benchmark run
	for _, bm := range []struct {
		name, model string
		dir         func(*testing.B) string
		tokens      int
	}{
		{"stories260K", "stories260K", func(b *testing.B) string { return testmodels.Dir(b) }, 200},
		{"synthetic15M", "synthetic15M", synthetic15M, 200},
	} {
		var dir string // made on first use, so -bench can skip the 60 MB synthetic model
		for _, streams := range []int{1, 8} {
			b.Run(bm.name+"/streams="+string(rune('0'+streams)), func(b *testing.B) {
				if dir == "" {
					dir = bm.dir(parent)
				}
				e, err := New(Options{ModelsDir: dir, MaxParallel: 8})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				req := func(i int) *stream.Request {
					return &stream.Request{Model: bm.model, Prompt: "Once upon a time", RawPrompt: true,
						// Greedy and no stop token: every stream decodes exactly
						// bm.tokens tokens; the random model rarely meets BOS/EOS.
						Sampling: stream.Sampling{Temperature: ptr(0.0), MaxTokens: bm.tokens}}
				}
				// Warm up: load the model.
				stream.Collect(must(e.Stream(context.Background(), req(0))))
				resetPeakRSS()
				var tokens, decodeNS int64
				var mu sync.Mutex
				b.ResetTimer()
				for b.Loop() {
					var wg sync.WaitGroup
					for i := 0; i < streams; i++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							res := stream.Collect(must(e.Stream(context.Background(), req(i))))
							if res.Err != nil {
								b.Error(res.Err)
								return
							}
							mu.Lock()
							tokens += int64(res.Usage.CompletionTokens)
							decodeNS += res.Usage.GenerationDuration.Nanoseconds()
							mu.Unlock()
						}()
					}
					wg.Wait()
				}
				b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
				// Streams of one round decode in parallel, so the decode rate
				// of a round is its tokens over one stream's decode time.
				b.ReportMetric(float64(tokens)/(float64(decodeNS)/1e9/float64(streams)), "decode-tok/s")
				b.ReportMetric(peakRSS(), "peak-RSS-MB")
			})
		}
	}
}

func must(s stream.Stream, err error) stream.Stream {
	if err != nil {
		panic(err)
	}
	return s
}

// resetPeakRSS resets the kernel's high-water mark of the process's
// resident set (Linux's clear_refs "5"), so the peak measured after it is
// the engine's, not that of whatever the test process did before.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's VmHWM in MB (10^6 bytes), or 0 where
// /proc is missing. Mapped model pages that were touched count.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return float64(kb) * 1024 / 1e6
		}
	}
	return 0
}

// BenchmarkEngineFiles measures the engine, through its scheduler, on the
// GGUF files RUNNEL_BENCH_GGUF names (space-separated, e.g. those of
// `runnel bench engine --write`): aggregate decode tokens of 1 and of 8
// concurrent streams from a one-letter prompt, RUNNEL_BENCH_STEPS tokens
// each (default 64), greedy and with the engine's default sampling
// (temperature 1, top-k 40, top-p 0.9; a stream may then end early, at
// an end token). tok/cpu-s divides the tokens by the
// process's CPU time; with -cpu 1 it measures the work per token even on
// a loaded machine, where tok/s measures mostly the share of the cores
// the run got.
//
//	RUNNEL_BENCH_GGUF=/tmp/ksynth/synth-15M-q8_0.gguf go test -run '^$' -bench EngineFiles -benchtime 2x ./engine/
func BenchmarkEngineFiles(b *testing.B) {
	files := strings.Fields(os.Getenv("RUNNEL_BENCH_GGUF"))
	if len(files) == 0 {
		b.Skip("RUNNEL_BENCH_GGUF names no files")
	}
	tokens := 64
	if n, err := strconv.Atoi(os.Getenv("RUNNEL_BENCH_STEPS")); err == nil && n > 0 {
		tokens = n
	}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		if err := os.Symlink(abs, filepath.Join(dir, "m.gguf")); err != nil {
			b.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".gguf")
		for _, bm := range []struct {
			name        string
			temperature *float64
			streams     int
		}{{"greedy", ptr(0.0), 1}, {"greedy", ptr(0.0), 8}, {"sampled", nil, 1}, {"sampled", nil, 8}} {
			streams := bm.streams
			b.Run(name+"/"+bm.name+"/streams="+strconv.Itoa(streams), func(b *testing.B) {
				e, err := New(Options{ModelsDir: dir, MaxParallel: 8, MaxContext: 4 * tokens})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				req := &stream.Request{Model: "m", Prompt: "a", RawPrompt: true,
					Sampling: stream.Sampling{Temperature: bm.temperature, MaxTokens: tokens}}
				stream.Collect(must(e.Stream(context.Background(), req))) // load the model
				var completion atomic.Int64
				cpu := cputime.Process()
				for b.Loop() {
					var wg sync.WaitGroup
					for range streams {
						wg.Go(func() {
							res := stream.Collect(must(e.Stream(context.Background(), req)))
							if res.Err != nil {
								b.Error(res.Err)
								return
							}
							completion.Add(int64(res.Usage.CompletionTokens))
						})
					}
					wg.Wait()
				}
				n := float64(completion.Load())
				b.ReportMetric(n/b.Elapsed().Seconds(), "tok/s")
				if c := cputime.Process() - cpu; c > 0 {
					b.ReportMetric(n/c.Seconds(), "tok/cpu-s")
				}
			})
		}
	}
}
