package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/engine/models"
)

func init() {
	var typ, tokenizer string
	cmd := &cobra.Command{
		Use:   "convert IN.bin OUT.gguf",
		Short: "Convert a llama2.c checkpoint to a self-contained GGUF file",
		Long: `Convert a llama2.c checkpoint to GGUF (llama architecture), with its
tokenizer embedded so the GGUF file stands alone. The tokenizer is found
beside the checkpoint (tok<vocab size>.bin, then tokenizer.bin) unless
--tokenizer names it. --type sets the weight matrices' type; norms stay f32,
and matrices whose rows do not fit the quantized blocks are written as f16.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, ok := models.ConvertTypes[strings.ToLower(typ)]
			if !ok {
				names := make([]string, 0, len(models.ConvertTypes))
				for n := range models.ConvertTypes {
					names = append(names, n)
				}
				slices.Sort(names)
				return fmt.Errorf("--type %q: want one of %s", typ, strings.Join(names, ", "))
			}
			in, out := args[0], args[1]
			if tokenizer == "" {
				dir := filepath.Dir(in)
				m, err := models.Find(dir, filepath.Base(in))
				if err != nil {
					return fmt.Errorf("%s is not a llama2.c checkpoint: %w", in, err)
				}
				if m.Tokenizer == "" {
					return fmt.Errorf("no tokenizer with %s's vocabulary beside it; name one with --tokenizer", in)
				}
				tokenizer = m.Tokenizer
			}
			rep, err := models.Convert(in, tokenizer, out, t)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d tensors, %s", out, rep.Tensors, humanBytes(rep.Bytes))
			if len(rep.Fallback) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), " (%d matrices as f16: %s)", len(rep.Fallback), strings.Join(rep.Fallback, ", "))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "f32", "weight type: f32, f16, bf16, q8_0 or q4_0")
	cmd.Flags().StringVar(&tokenizer, "tokenizer", "", "llama2.c tokenizer file (default: found beside the checkpoint)")
	root.AddCommand(cmd)
}
