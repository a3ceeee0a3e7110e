package tokenizer

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. On a shared, noisy machine
// it measures work better than wall time does; benchmarks report it per op
// as cpu-ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPrompt is a typical chat-sized prompt: about 1 KiB of English with
// some punctuation, digits and a few non-ASCII characters.
var benchPrompt = strings.Repeat("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her 3 friends — Tom, Zoë and Max. ", 8)

func benchTokenizers(b *testing.B) map[string]Tokenizer {
	m := map[string]Tokenizer{}
	if dir, ok := sharedPath("models"); ok {
		for _, n := range []string{"tok512.bin", "tokenizer.bin"} {
			if tok, err := Open(filepath.Join(dir, n)); err == nil {
				m["llama2c-"+strings.TrimSuffix(n, ".bin")] = tok
			}
		}
	}
	if dir, ok := sharedPath("testdata/vocab"); ok {
		for _, n := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-falcon.gguf", "ggml-vocab-starcoder.gguf"} {
			if tok, err := Open(filepath.Join(dir, n)); err == nil {
				m[strings.TrimSuffix(strings.TrimPrefix(n, "ggml-vocab-"), ".gguf")] = tok
			}
		}
	}
	if len(m) == 0 {
		m["synthetic-spm"] = fromGGUF(b, synthSPMFile(b))
		m["synthetic-bpe"] = fromGGUF(b, synthBPEFile(b))
	}
	return m
}

func BenchmarkEncode(b *testing.B) {
	for name, tok := range benchTokenizers(b) {
		b.Run(name, func(b *testing.B) {
			n := len(tok.Encode(benchPrompt, true))
			dst := make([]int, 0, n)
			b.SetBytes(int64(len(benchPrompt)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				dst = tok.AppendEncode(dst[:0], benchPrompt, true)
			}
			cpu = cpuTime() - cpu
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "tokens/cpu-s")
		})
	}
}

func BenchmarkDecoder(b *testing.B) {
	for name, tok := range benchTokenizers(b) {
		b.Run(name, func(b *testing.B) {
			ids := tok.Encode(benchPrompt, true)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				d := NewDecoder(tok, ids[0])
				for _, id := range ids[1:] {
					d.Next(id)
				}
			}
			cpu = cpuTime() - cpu
			b.ReportMetric(float64(len(ids)-1)*float64(b.N)/cpu.Seconds(), "tokens/cpu-s")
		})
	}
}

// BenchmarkEncodeRunCScan is the baseline for the llama2.c tokenizers:
// run.c's own merge loop (rescan every pair after each merge), as ported
// in refRunC, on the same prompt.
func BenchmarkEncodeRunCScan(b *testing.B) {
	for name, tok := range benchTokenizers(b) {
		spm, ok := tok.(*SPM)
		if !ok || !spm.runc {
			continue
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(benchPrompt)))
			cpu := cpuTime()
			for b.Loop() {
				refRunC(spm, benchPrompt, true)
			}
			cpu = cpuTime() - cpu
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
