package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/bench"
	"github.com/runnel/runnel/mock"
)

func newBenchMockCmd() *cobra.Command {
	var (
		addr string
		o    mock.Options
	)
	cmd := &cobra.Command{
		Use:   "mock",
		Short: "Serve a standalone mock OpenAI-compatible upstream",
		Long: `mock serves /v1/chat/completions, /v1/completions and /v1/models over the
mock provider alone (no gateway, auth or accounting): a fast, deterministic
upstream to measure Runnel's overhead against. Every model name is answered
by the mock; the flags set the default knobs and a model's query string
overrides them per request, e.g. "default?tokens=50&itl=2ms".

Measure the overhead with the upstream read directly and through the gateway:

  runnel bench mock --addr 127.0.0.1:9000 --tokens 64 --itl 1ms
  OPENAI_BASE_URL=http://127.0.0.1:9000/v1 runnel serve --addr 127.0.0.1:8080
  runnel bench --base-url http://127.0.0.1:9000/v1 --model default -n 2000 -c 500
  runnel bench --base-url http://127.0.0.1:8080/v1 --model openai/default -n 2000 -c 500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv := &http.Server{Handler: bench.MockHandler(o), ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(shut)
			}()
			log.Info("ready", "addr", ln.Addr().String(), "tokens", o.Tokens, "ttft", o.TTFT, "itl", o.ITL)
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:9000", "address to listen on")
	fl.IntVar(&o.Tokens, "tokens", 0, "output tokens per answer (0: the text once over)")
	fl.StringVar(&o.Text, "text", "", "text to send, cycled or cut to --tokens (default: the mock's text)")
	fl.DurationVar(&o.TTFT, "ttft", 0, "time to first token")
	fl.DurationVar(&o.ITL, "itl", 0, "delay between tokens")
	fl.IntVar(&o.Think, "think", 0, "thinking tokens before the output (sent as reasoning_content)")
	fl.IntVar(&o.ErrorAfter, "error-after", 0, "fail with an error event after this many tokens (0: never)")
	return cmd
}
