package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/bench/enginecmp"
	"github.com/runnel/runnel/engine/synth"
)

func newBenchEngineCmd() *cobra.Command {
	var (
		c      enginecmp.Config
		write  string
		shapes []string
		mixes  []string
		seed   uint64
	)
	var shapeNames []string
	for _, s := range synth.Shapes {
		shapeNames = append(shapeNames, s.Name)
	}
	cmd := &cobra.Command{
		Use:   "engine [FILE.gguf...]",
		Short: "Measure the built-in engine, and llama.cpp beside it, on GGUF files",
		Long: `engine runs Runnel's built-in engine on each GGUF file: decoding 128 tokens
(one stream), processing a 128-token prompt, and the aggregate decode rate of
8 concurrent streams. Given a llama.cpp build (--llama-cpp DIR), it runs
llama-bench (pp128, tg128) and llama-server -np 8 on the same files with the
same threads, in interleaved rounds, and prints Runnel ÷ llama.cpp for each
test: the ratio of the medians, with the range of the per-round ratios.
Decoding is measured --decode-runs times per file and round, the two engines'
runs alternating (llama-bench -r 1 each), a round's figure being the median
of its runs; the pairs' ratios are printed too. Runnel's own ratio, its 8
streams ÷ its one stream, is measured the same way: each decode run follows
an 8-stream run, and a round's ratio is that of its two medians (8÷1 row,
with every pair's ratio; the 8÷1 cpu row is the same by the process's CPU
time, which a host that lends the process less of its cores moves less).
For decoding it prints the physical limit, the weight bytes read per token
against the copy bandwidth measured in each round, and the share of it
each engine reaches.

--write DIR writes synthetic models of real shapes instead (random weights,
in Q8_0 and in llama-quantize's Q4_K_M mix): ` + strings.Join(shapeNames, ", ") + `.
They are hundreds of MB; keep them out of the repository.`,
		Example: `  runnel bench engine --write /tmp/synth
  runnel bench engine --llama-cpp ~/src/llama.cpp/build/bin /tmp/synth/*.gguf`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if write != "" {
				if len(args) > 0 {
					return fmt.Errorf("--write takes no files")
				}
				return writeSynth(cmd, write, shapes, mixes, seed)
			}
			if len(args) == 0 {
				return fmt.Errorf("name the GGUF files to measure (or --write DIR to make some)")
			}
			c.Files = args
			c.Log = cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			res, err := enginecmp.Run(ctx, c)
			if err != nil {
				return err
			}
			res.WriteTable(cmd.OutOrStdout())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.LlamaCpp, "llama-cpp", "", "a llama.cpp build to compare with (the folder of llama-bench and llama-server)")
	fl.IntVar(&c.Rounds, "rounds", 3, "interleaved rounds")
	fl.IntVar(&c.Threads, "threads", 0, "cores for both engines (default GOMAXPROCS)")
	fl.IntVar(&c.Streams, "streams", 8, "concurrent streams of the aggregate test")
	fl.IntVar(&c.Tokens, "tokens", 128, "tokens decoded, and prompt length")
	fl.IntVar(&c.DecodeRuns, "decode-runs", 5, "decode measurements per engine, file and round, alternating between the engines (and each after one of Runnel's aggregate runs)")
	fl.StringVar(&write, "write", "", "write the synthetic models into this folder and exit")
	fl.StringSliceVar(&shapes, "shapes", shapeNames, "shapes --write writes")
	fl.StringSliceVar(&mixes, "mixes", synth.Mixes, "weight formats --write writes: q8_0, q4_k_m")
	fl.Uint64Var(&seed, "seed", synth.Seed, "seed of the synthetic weights")
	return cmd
}

func writeSynth(cmd *cobra.Command, dir string, shapes, mixes []string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range shapes {
		i := slices.IndexFunc(synth.Shapes, func(s synth.Shape) bool { return s.Name == name })
		if i < 0 {
			return fmt.Errorf("unknown shape %q", name)
		}
		for _, mix := range mixes {
			path := filepath.Join(dir, fmt.Sprintf("synth-%s-%s.gguf", name, mix))
			rep, err := synth.WriteGGUF(path, synth.Shapes[i], mix, seed)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %.1f MB, matrices %v\n", path, float64(rep.Bytes)/1e6, rep.Types)
		}
	}
	return nil
}
