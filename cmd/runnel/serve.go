package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
	"github.com/runnel/runnel/account/store"
	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/dialect/websocket"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/server"
	"github.com/runnel/runnel/server/metrics"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/web"
)

type serveFlags struct {
	addr      string
	config    string
	dataDir   string
	modelsDir string
	model     string
	logFormat string
	logLevel  string
	bodyLimit int64
	keepAlive time.Duration
	grace     time.Duration
	auth      bool
	database  string
	redis     string
}

func init() {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the streaming APIs (OpenAI, Ollama, Anthropic, native, WebSocket)",
		Long: `Serve Runnel's streaming APIs over HTTP.

With no configuration, model names route by prefix: mock/NAME to the mock
provider, openai/NAME to OPENAI_BASE_URL (or api.openai.com with
OPENAI_API_KEY), ollama/NAME to OLLAMA_HOST, anthropic/NAME and gemini/NAME
when their key or base URL is set, and engine/NAME and bare names to the
built-in engine (models from --models-dir). A YAML file (--config) adds
named providers, aliases with fallbacks, prices and timeouts; environment
variables override it, and flags override both.

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
	fl.StringVar(&f.model, "model", "", "model of requests that name none, loaded at start (env RUNNEL_DEFAULT_MODEL; default stories260K on the engine)")
	fl.StringVar(&f.logFormat, "log-format", envOr("RUNNEL_LOG_FORMAT", "text"), "log format: text or json (env RUNNEL_LOG_FORMAT)")
	fl.StringVar(&f.logLevel, "log-level", envOr("RUNNEL_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env RUNNEL_LOG_LEVEL)")
	fl.Int64Var(&f.bodyLimit, "body-limit", 1<<20, "maximum request body in bytes (env RUNNEL_BODY_LIMIT)")
	fl.DurationVar(&f.keepAlive, "keep-alive", 15*time.Second, "SSE keep-alive comment after this much silence (env RUNNEL_KEEP_ALIVE)")
	fl.BoolVar(&f.auth, "auth", account.EnvAuth(), "require an API key on every call (env RUNNEL_AUTH=1); RUNNEL_ADMIN_KEY sets the admin key")
	fl.StringVar(&f.database, "database-url", "", "PostgreSQL URL for the account store, shared by replicas (env DATABASE_URL); default SQLite in --data-dir")
	fl.StringVar(&f.redis, "redis-url", "", "Redis URL for rate limits shared by replicas (env REDIS_URL); default per-replica limits")
	fl.DurationVar(&f.grace, "shutdown-grace", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight streams may finish before they are cancelled (env RUNNEL_SHUTDOWN_GRACE)")
	root.AddCommand(cmd)
}

func serve(cmd *cobra.Command, f serveFlags) error {
	log, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	// Packages without a logger of their own (the upstream providers'
	// transport errors) log through the default one.
	slog.SetDefault(log)
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
	set("model", func() { cfg.Gateway.DefaultModel = f.model })
	set("body-limit", func() { cfg.Server.BodyLimit = f.bodyLimit })
	set("keep-alive", func() { cfg.Server.KeepAlive = f.keepAlive })
	set("shutdown-grace", func() { cfg.Server.ShutdownGrace = f.grace })
	set("database-url", func() { cfg.Server.DatabaseURL = f.database })
	set("redis-url", func() { cfg.Server.RedisURL = f.redis })

	if cfg.Server.ModelsDir == "" {
		// Where `runnel pull` downloads to; said in the ready line.
		cfg.Server.ModelsDir = models.DefaultDir()
	}
	if _, err := os.Stat(cfg.Server.ModelsDir); err != nil {
		// Not fatal (upstream providers need no models), but bare names
		// will all be 404s: say so now rather than on the first request.
		log.Warn("the models directory does not exist: bare model names will not be found; download one with `runnel pull --models-dir DIR stories260K`",
			"models_dir", cfg.Server.ModelsDir, "err", err)
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h, streams, closeAll, err := newServer(ctx, cfg, accountOptions{
		auth:     f.auth,
		adminKey: os.Getenv("RUNNEL_ADMIN_KEY"),
	}, log)
	if err != nil {
		return err
	}
	defer closeAll()
	return server.Run(ctx, h, server.RunOptions{
		Addr:    cfg.Server.Addr,
		Grace:   cfg.Server.ShutdownGrace,
		PreStop: cfg.Server.PreStop,
		Streams: streams,
		Logger:  log,
		ReadyAttrs: []slog.Attr{
			slog.String("version", version),
			slog.String("default_provider", cfg.DefaultProvider()),
			slog.String("providers", strings.Join(providerNames(cfg), ",")),
			slog.String("models_dir", cfg.Server.ModelsDir),
			slog.String("default_model", cfg.DefaultModel()),
			slog.Bool("auth", f.auth),
			slog.String("store", storeKind(cfg.Server.DatabaseURL)),
			slog.String("rate_limits", rateLimitBackend(cfg.Server.RedisURL)),
		},
	})
}

// accountOptions are the account layer's settings that are not in the
// config: auth and the admin key. (Its store is cfg.Server.DatabaseURL's:
// PostgreSQL when set, else SQLite in the data dir.)
type accountOptions struct {
	auth     bool
	adminKey string
}

// newServer wires cfg into the root handler: providers, router, the
// account layer (auth middleware, admission, records, jobs and admin
// APIs), gateway, metrics and every dialect. streams is the resumption
// layer, which shutdown drains. closeAll releases what holds resources
// (the engine's models, the account store, Redis).
func newServer(ctx context.Context, cfg *config.Config, ao accountOptions, log *slog.Logger) (h *server.Handler, streams *dialect.Resumer, closeAll func(), err error) {
	providers, err := cfg.BuildProviders(os.Getenv, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: %w", err)
	}
	closeProviders := func() {
		for name, p := range providers {
			if c, ok := p.(io.Closer); ok {
				if err := c.Close(); err != nil {
					log.Warn("closing provider", "provider", name, "err", err)
				}
			}
		}
	}
	st, err := store.Open(ctx, cfg.Server.DataDir, cfg.Server.DatabaseURL)
	if err != nil {
		closeProviders()
		return nil, nil, nil, fmt.Errorf("account store: %w", err)
	}
	acfg, closeLimiter, err := accountConfig(ctx, ao, cfg.Server, cfg.Prices, log)
	if err != nil {
		st.Close()
		closeProviders()
		return nil, nil, nil, err
	}
	streams, closeResumer, err := resumer(ctx, cfg, log)
	if err != nil {
		st.Close()
		closeLimiter()
		closeProviders()
		return nil, nil, nil, err
	}
	responses, closeResponses, err := responseStore(ctx, cfg, log)
	if err != nil {
		closeResumer()
		st.Close()
		closeLimiter()
		closeProviders()
		return nil, nil, nil, err
	}
	acfg.Journal = journalPath(cfg.Server.DataDir)
	acct := account.New(st, acfg)
	closeAll = func() {
		closeResumer()
		closeResponses()
		closeProviders()
		if err := acct.Close(); err != nil {
			log.Warn("closing the account store", "err", err)
		}
		closeLimiter() // after: the last records may need Redis
	}

	m := metrics.NewWith(metrics.Options{Known: cfg.KnownModels(providers)})
	registerLimiterMetrics(m.Registry(), acct)
	gopts := cfg.GatewayOptions()
	gopts.Router = cfg.Router(providers)
	gopts.Observer = m
	gopts.Accountant = acct
	if gopts.Counter == nil {
		gopts.Counter = estimateCounter
	}
	gw := gateway.New(gopts)
	streams.Settle = settle(gw, log)
	if cfg.Gateway.DefaultModel != "" {
		// A model named on purpose (--model) is loaded before "ready", so
		// that its first request does not pay for the load; a wrong name
		// stops the server here rather than 404 every request.
		if err := gw.Preload(ctx, cfg.Gateway.DefaultModel); err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("default model %s: %w", cfg.Gateway.DefaultModel, err)
		}
	}

	var wsOrigins []string
	if !slices.Contains(cfg.Server.CORSOrigins, "*") {
		wsOrigins = cfg.Server.CORSOrigins
	}
	dialects := server.Dialects(gw, server.DialectOptions{
		BodyLimit:          cfg.Server.BodyLimit,
		KeepAlive:          cfg.Server.KeepAlive,
		OpenAIOmitEventIDs: cfg.Server.OpenAIOmitEventIDs,
		Resumer:            streams,
		Responses:          responses,
		Tokens:             streamTokens(cfg),
		Logger:             log,
		Auth:               ao.auth,
		Identity:           tokenIdentity,
		WithIdentity:       tokenIdentityRestorer(acct),
		WebSocketOrigins:   wsOrigins,
		Authorize:          authorize,
	})
	dialects = append(dialects,
		api.NewJobs(acct, gw, api.Options{BodyLimit: cfg.Server.BodyLimit, DefaultModel: cfg.DefaultModel()}),
		api.NewAdmin(acct),
		web.Page{}, // the chat page at / and the JS SDK at /sdk/runnel.js
	)
	h = server.New(server.Options{
		Logger:      log,
		BodyLimit:   cfg.Server.BodyLimit,
		CORSOrigins: cfg.Server.CORSOrigins,
		Metrics:     metricsHandler(m.Handler(), cfg.Server.MetricsToken, ao.auth, acct),
		Ready:       map[string]func(context.Context) error{"account store": acct.Ready},
		ReadyInfo:   readyInfo(acct, cfg.Server.DatabaseURL),
		Dialects:    dialects,
		Middleware:  []func(http.Handler) http.Handler{authMiddleware(acct)},
	})
	return h, streams, closeAll, nil
}

// authMiddleware is the account layer's, except for the native GET stream,
// a stream's DELETE and /ws/chat with a stream token, which carries its
// caller itself (browsers' EventSource and WebSocket cannot send a key
// header); their handlers verify the token.
func authMiddleware(acct *account.Service) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		withAuth := acct.Middleware(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if native.IsTokenRoute(r) || websocket.IsTokenRoute(r) {
				next.ServeHTTP(w, r)
				return
			}
			withAuth.ServeHTTP(w, r)
		})
	}
}

// metricsHandler guards /metrics: with a token, only that bearer token;
// else, with auth on, an API key (or the admin key) as for every API; else
// open, as everything is with auth off.
func metricsHandler(h http.Handler, token string, auth bool, acct *account.Service) http.Handler {
	switch {
	case token != "":
		return server.Guard(server.BearerToken(token), h)
	case auth:
		return acct.Middleware(server.Guard(func(r *http.Request) error {
			if e := account.AuthError(r.Context()); e != nil {
				return errors.New(e.Message) // Guard's body has the code
			}
			return nil
		}, h))
	}
	return h
}

// authorize refuses a caller whose API key the auth middleware rejected
// (with auth on): for /ws/chat, before the upgrade.
func authorize(ctx context.Context) error {
	if e := account.AuthError(ctx); e != nil {
		return e
	}
	return nil
}

// tokenIdentity is the caller a native stream token carries: "admin",
// "team:TEAM:KEY", or "" for an anonymous caller.
func tokenIdentity(ctx context.Context) string {
	id, ok := account.FromContext(ctx)
	switch {
	case !ok || id.Anonymous():
		return ""
	case id.Admin:
		return "admin"
	}
	return "team:" + id.TeamID + ":" + id.KeyID
}

// tokenIdentityRestorer restores tokenIdentity's caller into a request
// context. The token was signed by this server, so its contents are
// trusted; the key it names is still checked, so a revoked key's tokens
// stop working at once and the key's own rate limits apply.
func tokenIdentityRestorer(acct *account.Service) func(ctx context.Context, s string) (context.Context, *stream.Error) {
	return func(ctx context.Context, s string) (context.Context, *stream.Error) {
		if s == "admin" {
			return account.NewContext(ctx, account.Identity{Admin: true}), nil
		}
		if rest, ok := strings.CutPrefix(s, "team:"); ok {
			team, key, _ := strings.Cut(rest, ":")
			return acct.KeyContext(ctx, team, key)
		}
		// An anonymous token: no identity, so that with auth on the call
		// is refused as if no key had been sent.
		return ctx, nil
	}
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

// journalPath is where the account layer journals call records (see
// account.Config.Journal): in the data directory, for SQLite and
// PostgreSQL alike, since each server owns its own.
func journalPath(dataDir string) string { return filepath.Join(dataDir, "calls.journal") }
