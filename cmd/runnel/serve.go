package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/server/metrics"
	"github.com/runnel/runnel/web"
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
	// Flags left unset fall back to the config file and the environment
	// (config.Load); a flag given on the command line wins over both.
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on (env RUNNEL_ADDR)")
	fl.StringVar(&f.config, "config", os.Getenv("RUNNEL_CONFIG"), "YAML config file (env RUNNEL_CONFIG)")
	fl.StringVar(&f.dataDir, "data-dir", "./data", "directory for Runnel's own data (env RUNNEL_DATA_DIR)")
	fl.StringVar(&f.modelsDir, "models-dir", "", "directory of models for the built-in engine (env RUNNEL_MODELS)")
	fl.StringVar(&f.logFormat, "log-format", envOr("RUNNEL_LOG_FORMAT", "text"), "log format: text or json (env RUNNEL_LOG_FORMAT)")
	fl.StringVar(&f.logLevel, "log-level", envOr("RUNNEL_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env RUNNEL_LOG_LEVEL)")
	fl.Int64Var(&f.bodyLimit, "body-limit", 1<<20, "maximum request body in bytes (env RUNNEL_BODY_LIMIT)")
	fl.DurationVar(&f.keepAlive, "keep-alive", 15*time.Second, "SSE keep-alive comment after this much silence (env RUNNEL_KEEP_ALIVE)")
	fl.DurationVar(&f.grace, "shutdown-grace", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight streams may finish before they are cancelled (env RUNNEL_SHUTDOWN_GRACE)")
	root.AddCommand(cmd)
}

func serve(cmd *cobra.Command, f serveFlags) error {
	log, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return err
	}
	fl := cmd.Flags()
	set := func(name string, apply func()) {
		if fl.Changed(name) {
			apply()
		}
	}
	set("addr", func() { cfg.Server.Addr = f.addr })
	set("data-dir", func() { cfg.Server.DataDir = f.dataDir })
	set("models-dir", func() { cfg.Server.ModelsDir = f.modelsDir })
	set("body-limit", func() { cfg.Server.BodyLimit = f.bodyLimit })
	set("keep-alive", func() { cfg.Server.KeepAlive = f.keepAlive })
	set("shutdown-grace", func() { cfg.Server.ShutdownGrace = f.grace })

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h, closeAll, err := newServer(cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	return server.Run(ctx, h, server.RunOptions{
		Addr:   cfg.Server.Addr,
		Grace:  cfg.Server.ShutdownGrace,
		Logger: log,
		ReadyAttrs: []slog.Attr{
			slog.String("version", version),
			slog.String("default_provider", cfg.DefaultProvider()),
			slog.String("providers", strings.Join(providerNames(cfg), ",")),
			slog.String("models_dir", cfg.Server.ModelsDir),
		},
	})
}

// newServer wires cfg into the root handler: providers, router, gateway,
// metrics and every dialect. closeAll releases the providers that hold
// resources (the engine's models).
func newServer(cfg *config.Config, log *slog.Logger) (h *server.Handler, closeAll func(), err error) {
	providers, err := cfg.BuildProviders(os.Getenv, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	closeAll = func() {
		for name, p := range providers {
			if c, ok := p.(io.Closer); ok {
				if err := c.Close(); err != nil {
					log.Warn("closing provider", "provider", name, "err", err)
				}
			}
		}
	}
	m := metrics.New()
	gopts := cfg.GatewayOptions()
	gopts.Router = cfg.Router(providers)
	gopts.Observer = m
	gw := gateway.New(gopts)
	h = server.New(server.Options{
		Logger:      log,
		BodyLimit:   cfg.Server.BodyLimit,
		CORSOrigins: cfg.Server.CORSOrigins,
		Metrics:     m.Handler(),
		Dialects: append(server.Dialects(gw, server.DialectOptions{
			BodyLimit: cfg.Server.BodyLimit,
			KeepAlive: cfg.Server.KeepAlive,
			Logger:    log,
		}), web.Page{}),
	})
	return h, closeAll, nil
}

func providerNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Providers))
	for name := range cfg.Providers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
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
