package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/redislimit"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/tokencount"
)

// accountConfig is the account layer's configuration for serve: the
// environment (account.ConfigFromEnv: RUNNEL_CHARGE, RUNNEL_JOB_TIMEOUT,
// default limits, …) under the flags, and rate limits shared through Redis
// when REDIS_URL is set. The returned func closes what it opened.
func accountConfig(ctx context.Context, ao accountOptions, prices gateway.Prices, log *slog.Logger) (account.Config, func(), error) {
	c, err := account.ConfigFromEnv()
	if err != nil {
		return c, nil, fmt.Errorf("account: %w", err)
	}
	c.Auth = c.Auth || ao.auth
	c.AdminKey, c.Prices, c.Logger = ao.adminKey, prices, log
	closeFn := func() {}
	if url := os.Getenv("REDIS_URL"); url != "" {
		lim, err := redislimit.Open(ctx, url)
		if err != nil {
			return c, nil, err
		}
		c.Limiter, closeFn = lim, func() { lim.Close() }
	}
	return c, closeFn, nil
}

// estimateCounter counts tokens for usage estimates: tiktoken's encodings
// for OpenAI-family models, the gateway's approximation for the rest.
var estimateCounter = tokencount.Counter{Fallback: gateway.ApproxCounter{}}
