// Command synthbin writes models with random weights: by default a
// llama2.c checkpoint of stories15M's shape (the model the engine
// benchmarks use), for running other implementations such as llama2.c's
// run.c on the same model; with -gguf, one of the synthetic GGUF models
// of each architecture that engine/model checks against llama.cpp, with
// its vocabulary's tokenizer keys (from -vocab) so llama.cpp can load it:
//
//	go run ./engine/synth/synthbin -o /tmp/stories15M-synth.bin
//	go run ./engine/synth/synthbin -gguf qwen2 -vocab ../shared/testdata/vocab -o /tmp/qwen2.gguf
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/runnel/runnel/engine/synth"
)

func main() {
	out := flag.String("o", "stories15M-synth.bin", "output file")
	seed := flag.Uint64("seed", synth.Seed, "random seed of the llama2.c checkpoint (the default is the benchmarks')")
	name := flag.String("gguf", "", "write this synthetic GGUF model instead (see synth.Specs)")
	vocab := flag.String("vocab", "", "with -gguf: directory of the ggml-vocab-*.gguf vocabularies")
	flag.Parse()
	var err error
	if *name != "" {
		err = writeGGUF(*out, *name, *vocab)
	} else {
		err = synth.WriteFile(*out, synth.Stories15M, *seed)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func writeGGUF(out, name, vocab string) error {
	s, ok := synth.Named(name)
	if !ok {
		return fmt.Errorf("no synthetic model %q", name)
	}
	w, err := synth.GGUF(s, nil)
	if err != nil {
		return err
	}
	if vocab == "" {
		return fmt.Errorf("-vocab is required (llama.cpp needs the %s vocabulary)", s.Vocab)
	}
	if err := synth.AddVocab(w, s, filepath.Join(vocab, "ggml-vocab-"+s.Vocab+".gguf")); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.WriteTo(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
