package main

import (
	"context"
	"log/slog"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/respstore"
	"github.com/runnel/runnel/respstore/redisstore"
)

// responseStore keeps the stored responses of /v1/responses: with a Redis
// URL in Redis (keys under server.redis_prefix + "resp:"), so that a chain
// continues on any replica; else in this process within
// server.responses_budget. The returned func closes what it opened.
func responseStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (respstore.Store, func(), error) {
	ttl := cfg.Server.ResponsesTTL
	if url := cfg.Server.RedisURL; url != "" {
		st, err := redisstore.Open(ctx, url, cfg.Server.RedisPrefix+"resp:", ttl)
		if err != nil {
			return nil, nil, err
		}
		log.Info("stored responses", "store", "redis", "ttl", ttl)
		return st, func() { st.Close() }, nil
	}
	m := respstore.NewMemory(respstore.Options{TTL: ttl, Budget: cfg.Server.ResponsesBudget})
	log.Info("stored responses", "store", "memory", "ttl", m.Options().TTL, "budget_bytes", m.Options().Budget)
	return m, func() {}, nil
}
