package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/engine/internal/synth"
	"github.com/runnel/runnel/engine/internal/testmodels"
	"github.com/runnel/runnel/stream"
)

// BenchmarkEngine measures decoding through the Provider, the way a server
// uses it: 1 or 8 concurrent streams, each the prompt "Once upon a time" at
// temperature 0 for 252 tokens (256 positions, what llama2.c's run.c does
// with -n 256). Models: stories260K, and a synthetic model of stories15M's
// shape with random weights (written once per run, see package synth).
// It reports generated tokens per second over all streams and the peak RSS
// of the process while decoding (model mmap included).
//
// Compare with run.c in the same run; docs/benchmarks.md says how.
func BenchmarkEngine(b *testing.B) {
	models := []struct{ name, dir string }{
		{"stories260K", testmodels.Dir(b)},
		{"synth15M", synthDir(b)},
	}
	for _, m := range models {
		for _, streams := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/streams=%d", m.name, streams), func(b *testing.B) {
				e, err := New(Options{ModelsDir: m.dir, MaxParallel: 8})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				generate(b, e, m.name, 1, 1) // load the model before timing
				resetPeakRSS()
				var tokens int64
				for b.Loop() {
					tokens += generate(b, e, m.name, streams, 252)
				}
				b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
				b.ReportMetric(float64(tokens)/float64(b.N)/float64(streams), "tokens/stream")
				if rss := peakRSS(); rss > 0 {
					b.ReportMetric(float64(rss)/(1<<20), "peakRSS-MiB")
				}
			})
		}
	}
}

// generate runs n concurrent greedy streams of up to max tokens and returns
// the completion tokens they reported.
func generate(b *testing.B, e *Engine, model string, n, max int) int64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			t0 := 0.0
			req := &stream.Request{Model: model, Prompt: "Once upon a time", RawPrompt: true,
				Sampling: stream.Sampling{Temperature: &t0, MaxTokens: max}}
			s, err := e.Stream(context.Background(), req)
			if err != nil {
				b.Error(err)
				return
			}
			defer s.Close()
			for ev, err := range stream.Events(s) {
				if err != nil {
					b.Error(err)
					return
				}
				if ev.Kind == stream.KindUsage {
					total.Add(int64(ev.Usage.CompletionTokens))
				}
			}
		})
	}
	wg.Wait()
	return total.Load()
}

var synthOnce struct {
	sync.Once
	dir string
	err error
}

// synthDir returns a models directory holding synth15M.bin (stories15M's
// shape, random weights, seed 1) and llama 2's tokenizer.bin beside it.
func synthDir(b *testing.B) string {
	tok := testmodels.Path(b, "tokenizer.bin")
	synthOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runnel-synth")
		if err != nil {
			synthOnce.err = err
			return
		}
		synthOnce.dir = dir
		if err := os.Symlink(tok, filepath.Join(dir, "tokenizer.bin")); err != nil {
			synthOnce.err = err
			return
		}
		synthOnce.err = synth.WriteFile(filepath.Join(dir, "synth15M.bin"), synth.Stories15M, 1)
		// The generator's 60 MB of weights must not count in the engine's RSS.
		runtime.GC()
		debug.FreeOSMemory()
	})
	if synthOnce.err != nil {
		b.Fatal(synthOnce.err)
	}
	return synthOnce.dir
}

// resetPeakRSS resets the kernel's high-water mark of the process's resident
// set (Linux; elsewhere it does nothing and peakRSS reports 0).
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns VmHWM in bytes, or 0 if unknown.
func peakRSS() int64 {
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
			return kb << 10
		}
	}
	return 0
}
