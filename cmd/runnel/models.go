package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/engine/models"
)

func init() {
	var dir string
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the built-in engine's models",
		Long: `List the models in the engine's models directory (--models-dir, env
RUNNEL_MODELS): llama2.c checkpoints (.bin) and GGUF files (.gguf). A model
is addressed by its file's base name, or as engine/NAME. Then the models of
Ollama's store ($OLLAMA_MODELS, else ~/.ollama/models), by their Ollama
names, which the engine serves too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := models.List(dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ollama, err := models.ListOllama(models.OllamaDir())
			if err != nil {
				return err
			}
			if len(list) == 0 && len(ollama) == 0 {
				fmt.Fprintf(out, "no models in %s; download one there with `runnel pull --models-dir %s %s`\n", dir, dir, models.Default)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFORMAT\tSIZE\tPARAMS\tCONTEXT")
			for _, m := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", m.Name, m.Format, humanBytes(m.Size), humanCount(m.Params), m.ContextLength)
			}
			// Ollama's models serve under their names too (see models.Resolve).
			for _, m := range ollama {
				fmt.Fprintf(tw, "%s\tollama\t%s\t%s\t%d\n", m.Name, humanBytes(m.Size), humanCount(m.Params), m.ContextLength)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "models-dir", models.DefaultDir(), "models directory (env RUNNEL_MODELS)")
	root.AddCommand(cmd)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
