package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/engine"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/engine/template"
)

func init() { root.AddCommand(newTemplateCmd()) }

func newTemplateCmd() *cobra.Command {
	var dir, file string
	cmd := &cobra.Command{
		Use:   "template MODEL",
		Short: "Print the prompt a chat becomes for a model",
		Long: `Read a chat request {"messages": [...], "tools": [...]} (OpenAI's shape)
on standard input and print the prompt the engine feeds MODEL for it: the
model's chat template (tokenizer.chat_template, or --template FILE) applied
with the generation prompt, exactly as it is tokenized, nothing appended
(a chat that ends with the assistant's message is that answer begun, which
the model continues).
MODEL is a GGUF file or a model name (see runnel models).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := modelPath(dir, args[0])
			if err != nil {
				return err
			}
			tmpl, tok, err := template.Open(path)
			if err != nil {
				return err
			}
			if file != "" {
				src, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				if tmpl, err = template.ForTokenizer(string(src), tok); err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
			}
			body, err := io.ReadAll(cmd.InOrStdin())
			if err != nil {
				return err
			}
			var c openai.ChatRequest
			if err := json.Unmarshal(body, &c); err != nil {
				return fmt.Errorf("template: standard input is not a chat request: %w", err)
			}
			if c.Model == "" {
				c.Model = args[0]
			}
			req, err := c.ToRequest()
			if err != nil {
				return fmt.Errorf("template: %w", err)
			}
			if tmpl == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "runnel: %s has no chat template; the engine joins the messages by newlines\n", args[0])
			}
			text, err := engine.PromptText(tmpl, tok.AddBOS(), req)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), text)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "models-dir", models.DefaultDir(), "models directory (env RUNNEL_MODELS)")
	cmd.Flags().StringVar(&file, "template", "", "Jinja chat template to use instead of the model's")
	return cmd
}

// modelPath is MODEL as a file, or else the named model of the models
// directory.
func modelPath(dir, name string) (string, error) {
	if st, err := os.Stat(name); err == nil && !st.IsDir() {
		return name, nil
	}
	m, err := models.Resolve(dir, name)
	if errors.Is(err, models.ErrNotFound) {
		return "", fmt.Errorf("model %q: no such file, and not in the models directory %s", name, dir)
	}
	if err != nil {
		return "", err
	}
	if m.Format != models.FormatGGUF {
		return "", fmt.Errorf("model %q is a %s file; chat templates come with GGUF files", name, m.Format)
	}
	return m.Path, nil
}
