package main

import (
	"errors"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/engine/tokenizer"
)

func init() { root.AddCommand(newTokenizeCmd()) }

func newTokenizeCmd() *cobra.Command {
	var vocab string
	var bos bool
	cmd := &cobra.Command{
		Use:   "tokenize --vocab FILE TEXT",
		Short: "Print the token ids of TEXT, space-separated",
		Long: "Print the token ids of TEXT on one line, space-separated, as the built-in engine encodes it.\n" +
			"FILE is a GGUF model or vocabulary, or a llama2.c tokenizer.bin.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if vocab == "" {
				return errors.New("tokenize: --vocab FILE is required")
			}
			tok, err := tokenizer.Open(vocab)
			if err != nil {
				return err
			}
			var line []byte
			for i, id := range tok.Encode(args[0], bos) {
				if i > 0 {
					line = append(line, ' ')
				}
				line = strconv.AppendInt(line, int64(id), 10)
			}
			_, err = cmd.OutOrStdout().Write(append(line, '\n'))
			return err
		},
	}
	cmd.Flags().StringVar(&vocab, "vocab", "", "GGUF file or llama2.c tokenizer.bin")
	cmd.Flags().BoolVar(&bos, "bos", false, "begin with the BOS token")
	return cmd
}
