package tokenizer

import (
	"path/filepath"
	"strings"
	"testing"
)

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
		for _, n := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
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
			for b.Loop() {
				dst = tok.AppendEncode(dst[:0], benchPrompt, true)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func BenchmarkDecoder(b *testing.B) {
	for name, tok := range benchTokenizers(b) {
		b.Run(name, func(b *testing.B) {
			ids := tok.Encode(benchPrompt, true)
			b.ReportAllocs()
			for b.Loop() {
				d := NewDecoder(tok, ids[0])
				for _, id := range ids[1:] {
					d.Next(id)
				}
			}
			b.ReportMetric(float64(len(ids)-1)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
