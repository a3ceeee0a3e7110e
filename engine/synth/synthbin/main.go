// Command synthbin writes a llama2.c checkpoint of stories15M's shape with
// random weights (the model the engine benchmarks use), for running other
// implementations such as llama2.c's run.c on the same model:
//
//	go run ./engine/synth/synthbin -o /tmp/stories15M-synth.bin
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/runnel/runnel/engine/synth"
)

func main() {
	out := flag.String("o", "stories15M-synth.bin", "output file")
	seed := flag.Uint64("seed", synth.Seed, "random seed (the default is the benchmarks')")
	flag.Parse()
	if err := synth.WriteFile(*out, synth.Stories15M, *seed); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
