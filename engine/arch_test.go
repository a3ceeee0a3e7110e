package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/engine/synth"
	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/stream"
)

// TestArchitecturesStream serves synthetic models of several
// architectures, each with its real vocabulary, through the engine's
// scheduler: greedy, and sampled with a seed each, streams run together
// (batched, prompts prefilled beside decode steps, their draws made in
// parallel over these real-sized vocabularies) write what each writes
// alone.
// engine/model checks the same models' outputs against llama.cpp.
func TestArchitecturesStream(t *testing.T) {
	vocab := filepath.Join(filepath.Dir(testmodels.Dir(t)), "testdata", "vocab")
	if _, err := os.Stat(vocab); err != nil {
		t.Skipf("%s absent", vocab)
	}
	dir := t.TempDir()
	// Architectures whose vocabularies the tokenizer reads today.
	names := []string{"llama", "qwen2", "qwen3moe", "phi3-longrope", "gemma3"}
	for _, name := range names {
		s, _ := synth.Named(name)
		w, err := synth.GGUF(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := synth.AddVocab(w, s, filepath.Join(vocab, "ggml-vocab-"+s.Vocab+".gguf")); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteTo(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	e := newEngine(t, Options{ModelsDir: dir, MaxParallel: 3, BatchTokens: 8})
	prompts := []string{"Once upon a time", "The quick brown fox jumps over", "Hi"}
	for _, name := range names {
		for _, temp := range []float64{0, 0.9} {
			t.Run(fmt.Sprintf("%s/temperature=%g", name, temp), func(t *testing.T) {
				reqs := make([]*stream.Request, len(prompts))
				want := make([]stream.Result, len(prompts))
				for i, p := range prompts {
					reqs[i] = &stream.Request{Model: name, Prompt: p, RawPrompt: true,
						Sampling: stream.Sampling{Temperature: ptr(temp), Seed: ptr(int64(i)), MaxTokens: 12 + 5*i}}
					want[i] = collect(t, e, reqs[i])
					if want[i].Err != nil || want[i].Usage.CompletionTokens == 0 {
						t.Fatalf("prompt %d alone: %v %+v", i, want[i].Err, want[i].Usage)
					}
				}
				got := collectTogether(e, reqs)
				for i := range got {
					if got[i].Err != nil || got[i].Text != want[i].Text || got[i].Usage.CompletionTokens != want[i].Usage.CompletionTokens {
						t.Errorf("prompt %d together: %q %+v %v\nalone: %q %+v", i, got[i].Text, got[i].Usage, got[i].Err, want[i].Text, want[i].Usage)
					}
				}
			})
		}
	}
}
