package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/server"
)

type serveFlags struct {
	addr      string
	config    string
	dataDir   string
	modelsDir string
	logFormat string
	logLevel  string
	bodyLimit int64
	keepAlive time.Duration
	grace     time.Duration
}

func init() {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the streaming APIs (OpenAI, Ollama, Anthropic, native, WebSocket)",
		Long: `Serve Runnel's streaming APIs over HTTP.

With no configuration, model names route by prefix: mock/NAME to the mock
provider, openai/NAME to OPENAI_BASE_URL (or api.openai.com with
OPENAI_API_KEY), ollama/NAME to OLLAMA_HOST, and bare names to the embedded
default. A YAML file (--config) adds named providers, aliases with fallbacks,
prices and timeouts; environment variables override it.

Runnel logs one line, "ready", with addr=HOST:PORT once it listens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", envOr("RUNNEL_ADDR", "127.0.0.1:8080"), "address to listen on (env RUNNEL_ADDR)")
	fl.StringVar(&f.config, "config", os.Getenv("RUNNEL_CONFIG"), "YAML config file (env RUNNEL_CONFIG)")
	fl.StringVar(&f.dataDir, "data-dir", envOr("RUNNEL_DATA_DIR", "./data"), "directory for Runnel's own data (env RUNNEL_DATA_DIR)")
	fl.StringVar(&f.modelsDir, "models-dir", os.Getenv("RUNNEL_MODELS"), "directory of models for the built-in engine (env RUNNEL_MODELS)")
	fl.StringVar(&f.logFormat, "log-format", envOr("RUNNEL_LOG_FORMAT", "text"), "log format: text or json (env RUNNEL_LOG_FORMAT)")
	fl.StringVar(&f.logLevel, "log-level", envOr("RUNNEL_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env RUNNEL_LOG_LEVEL)")
	fl.Int64Var(&f.bodyLimit, "body-limit", 0, "maximum request body in bytes (default 1 MiB, or the config's server.body_limit)")
	fl.DurationVar(&f.keepAlive, "keep-alive", 0, "SSE keep-alive comment after this much silence (default 15s, or the config's server.keep_alive)")
	fl.DurationVar(&f.grace, "shutdown-grace", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight streams may finish before they are cancelled")
	root.AddCommand(cmd)
}

func serve(cmd *cobra.Command, f serveFlags) error {
	log, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h := server.New(server.Options{
		Logger:    log,
		BodyLimit: f.bodyLimit,
	})
	return server.Run(ctx, h, server.RunOptions{
		Addr:   f.addr,
		Grace:  f.grace,
		Logger: log,
	})
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
