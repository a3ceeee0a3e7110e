package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/engine/models"
)

func init() {
	var o models.PullOptions
	cmd := &cobra.Command{
		Use:   "pull NAME|URL",
		Short: "Download a model for the built-in engine (Ollama's registry, Hugging Face)",
		Long: `Download a model into the models directory (--models-dir, env RUNNEL_MODELS).

NAME is one of:
  a known model        stories260K, stories15M, stories42M, stories110M
  an Ollama name       llama3.2:1b, qwen2.5:0.5b, USER/MODEL:TAG (from Ollama's registry)
  a GGUF repository    hf.co/ORG/REPO:QUANT, e.g. hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M
  a file               hf.co/ORG/REPO/FILE, or an http(s) URL
An Ollama name or GGUF repository is fetched as Ollama fetches it: the
registry's manifest, then its GGUF layer, saved as NAME.gguf ("/" written
"_") and served under NAME. Files download into FILE.partial and a cut
download resumes where it stopped when pulled again. Each file is checked
against its SHA-256: the manifest's digest, --sha256, or the digest Hugging
Face gives for LFS files; a mismatch discards the download.

Models Ollama already downloaded need no pull: the engine finds names like
llama3.2:1b in Ollama's store ($OLLAMA_MODELS, else ~/.ollama/models).

--base-url (env RUNNEL_HF_ENDPOINT or HF_ENDPOINT) replaces
https://huggingface.co, for mirrors; --registry (env RUNNEL_OLLAMA_REGISTRY)
replaces https://registry.ollama.ai.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			p := newProgress(cmd.ErrOrStderr())
			o.Start, o.Progress = p.start, p.update
			res, err := models.Pull(ctx, args[0], o)
			p.end(err)
			for _, r := range res {
				switch {
				case r.Existed:
					fmt.Fprintf(cmd.OutOrStdout(), "%s is already there (%s)\n", r.Path, humanBytes(r.Bytes))
				case r.Verified:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, sha256 %s verified\n", r.Path, humanBytes(r.Bytes), r.SHA256)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, sha256 %s (the server gave no checksum to verify)\n", r.Path, humanBytes(r.Bytes), r.SHA256)
				}
			}
			return err
		},
	}
	endpoint := os.Getenv("RUNNEL_HF_ENDPOINT")
	if endpoint == "" {
		endpoint = os.Getenv("HF_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = models.DefaultEndpoint
	}
	registry := os.Getenv("RUNNEL_OLLAMA_REGISTRY")
	if registry == "" {
		registry = models.DefaultRegistry
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Registry, "registry", registry, "Ollama registry (env RUNNEL_OLLAMA_REGISTRY)")
	fl.StringVar(&o.Dir, "models-dir", models.DefaultDir(), "models directory (env RUNNEL_MODELS)")
	fl.StringVar(&o.Endpoint, "base-url", endpoint, "Hugging Face endpoint (env RUNNEL_HF_ENDPOINT, HF_ENDPOINT)")
	fl.StringVar(&o.SHA256, "sha256", "", "expected SHA-256 of the file (hex)")
	root.AddCommand(cmd)
}

// progress draws a bar on a terminal, and plain lines otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	name  string
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) start(name string, total, resumed int64) {
	p.finishLine()
	p.name = name
	size := "unknown size"
	if total >= 0 {
		size = humanBytes(total)
	}
	if resumed > 0 {
		size += ", resuming at " + humanBytes(resumed)
	}
	if !p.tty {
		fmt.Fprintf(p.w, "downloading %s (%s)\n", name, size)
	}
}

func (p *progress) update(done, total int64) {
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && done != total) {
		return
	}
	p.last = time.Now()
	const width = 30
	if total > 0 {
		n := int(done * width / total)
		fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %s / %s ", p.name, strings.Repeat("=", n), strings.Repeat(" ", width-n),
			done*100/total, humanBytes(done), humanBytes(total))
	} else {
		fmt.Fprintf(p.w, "\r%s %s ", p.name, humanBytes(done))
	}
	p.drawn = true
}

func (p *progress) finishLine() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *progress) end(err error) { p.finishLine() }
