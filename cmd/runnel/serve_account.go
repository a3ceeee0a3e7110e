package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/redisjournal"
	"github.com/runnel/runnel/account/redislimit"
	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/tokencount"
)

// accountConfig is the account layer's configuration for serve: the
// environment (account.ConfigFromEnv: RUNNEL_CHARGE, RUNNEL_JOB_TIMEOUT,
// default limits, RUNNEL_RESERVATION_LEASE, …) under the flags, and, when
// a Redis URL is configured, rate limits shared through Redis and the
// records the store refuses kept there for any replica to store. The
// returned func closes what it opened, after the account service.
func accountConfig(ctx context.Context, ao accountOptions, sc config.Server, prices gateway.Prices, log *slog.Logger) (account.Config, func(), error) {
	c, err := account.ConfigFromEnv()
	if err != nil {
		return c, nil, fmt.Errorf("account: %w", err)
	}
	c.Auth = c.Auth || ao.auth
	c.AdminKey, c.Prices, c.Logger = ao.adminKey, prices, log
	closeFn := func() {}
	if sc.RedisURL == "" {
		log.Info("rate limits are counted in this process only: with several replicas each applies the limits on its own; set REDIS_URL to share them")
		return c, closeFn, nil
	}
	lim, err := redislimit.Open(ctx, sc.RedisURL, redislimit.Options{Prefix: sc.RedisPrefix, FailClosed: sc.RateLimitFail == "closed", Logger: log})
	if err != nil {
		return c, nil, err
	}
	st := lim.Status()
	log.Info("rate limits are shared through Redis", "prefix", sc.RedisPrefix, "state", st.State, "fail_open", st.FailOpen)
	j, err := redisjournal.Open(sc.RedisURL, sc.RedisPrefix)
	if err != nil {
		lim.Close()
		return c, nil, err
	}
	c.Limiter, c.Shared = lim, j
	return c, func() { lim.Close(); j.Close() }, nil
}

func storeKind(databaseURL string) string {
	if databaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

func rateLimitBackend(redisURL string) string {
	if redisURL != "" {
		return "redis"
	}
	return "memory"
}

// readyInfo is what /readyz tells besides ready or not: where the state
// lives, and whether the rate-limit backend is up.
func readyInfo(acct *account.Service, databaseURL string) func() map[string]any {
	return func() map[string]any {
		st := acct.LimiterStatus()
		rl := map[string]any{"backend": st.Backend, "state": st.State, "fail_open": st.FailOpen}
		if st.Backend == "memory" {
			rl["scope"] = "per replica"
		}
		return map[string]any{"store": storeKind(databaseURL), "rate_limits": rl}
	}
}

// registerLimiterMetrics exports the rate-limit backend's state:
// runnel_rate_limit_backend_up (1 up, 0 down; labelled by backend) and,
// for Redis, runnel_rate_limit_backend_failures_total; and, with Redis,
// runnel_records_pending (records the database refused, waiting there).
func registerLimiterMetrics(reg *prometheus.Registry, acct *account.Service) {
	backend := acct.LimiterStatus().Backend
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "runnel_rate_limit_backend_up",
		Help:        "Whether the rate-limit backend answers (1) or not (0).",
		ConstLabels: prometheus.Labels{"backend": backend},
	}, func() float64 {
		if acct.LimiterStatus().State == "up" {
			return 1
		}
		return 0
	}))
	if _, ok, _ := acct.PendingRecords(context.Background()); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_records_pending",
			Help: "Call records the database refused that wait in Redis for a replica to store them (NaN while Redis does not answer).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, _, err := acct.PendingRecords(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		}))
	}
	if f, ok := acct.Limiter().(interface{ Failures() int64 }); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "runnel_rate_limit_backend_failures_total",
			Help: "Rate-limit backend commands that failed or timed out.",
		}, func() float64 { return float64(f.Failures()) }))
	}
}

// estimateCounter counts tokens for usage estimates: tiktoken's encodings
// for OpenAI-family models, the gateway's approximation for the rest.
var estimateCounter = tokencount.Counter{Fallback: gateway.ApproxCounter{}}
