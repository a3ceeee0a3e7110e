package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/resume/redislog"
)

// resumer is the resumption layer for serve: with a Redis URL
// (server.redis_url, REDIS_URL or --redis-url), resumable streams' logs
// live in Redis (keys under server.redis_prefix, default "runnel:"), so that a stream resumes, and is cancelled, on any replica;
// else in this process. The returned func closes what it opened.
func resumer(ctx context.Context, cfg *config.Config, log *slog.Logger) (*dialect.Resumer, func(), error) {
	o := resume.Options{Grace: cfg.Server.ResumeGrace, Retain: cfg.Server.ResumeRetain, Budget: cfg.Server.ResumeBudget}
	closeFn := func() {}
	if url := cfg.Server.RedisURL; url != "" {
		st, err := redislog.Open(ctx, url, cfg.Server.RedisPrefix+"rs:")
		if err != nil {
			return nil, nil, err
		}
		o.Shared = st
		if cfg.Server.StreamTokenSecret == "" {
			log.Warn("REDIS_URL is set but RUNNEL_STREAM_TOKEN_SECRET is not: stream tokens (?token=) verify only on the replica that issued them")
		}
		closeFn = func() { st.Close() }
	}
	res := dialect.NewResumer(o, tokenIdentity)
	res.KeepAlive = cfg.Server.KeepAlive
	res.WithOwner = ownerContext
	log.Info("resumable streams", "logs", map[bool]string{true: "redis", false: "memory"}[o.Shared != nil],
		"replica", res.Registry.Replica(), "budget_bytes", res.Registry.Options().Budget)
	return res, func() { res.Registry.Close(); closeFn() }, nil
}

// ownerContext returns ctx carrying the caller tokenIdentity named owner,
// as a resumable stream's log names it, unchecked: for the replica that
// records or continues the call of a replica that died (a key revoked
// since still pays for what it was served).
func ownerContext(ctx context.Context, owner string) context.Context {
	if owner == "admin" {
		return account.NewContext(ctx, account.Identity{Admin: true})
	}
	if rest, ok := strings.CutPrefix(owner, "team:"); ok {
		team, key, _ := strings.Cut(rest, ":")
		return account.NewContext(ctx, account.Identity{TeamID: team, KeyID: key})
	}
	return ctx
}

// settle records a resumable call whose replica died mid-stream and which
// could not be continued, on the replica that ended its log: for its
// caller, through the gateway (usage counted from what was served, cost)
// into the account store, once by the call's id.
func settle(gw *gateway.Gateway, log *slog.Logger) func(ctx context.Context, owner string, rec *gateway.Record) {
	return func(ctx context.Context, owner string, rec *gateway.Record) {
		if err := gw.Settle(ownerContext(ctx, owner), rec); err != nil {
			log.Error("recording a call whose replica died", "call", rec.ID, "err", err)
			return
		}
		log.Info("recorded a call whose replica died mid-stream", "call", rec.ID, "provider", rec.Provider, "model", rec.Model,
			"completion_tokens", rec.Usage.CompletionTokens, "cost", rec.Cost.Total)
	}
}

// streamTokens signs stream tokens with the configured secret (shared by
// every replica), or a random one.
func streamTokens(cfg *config.Config) *native.Tokens {
	var secret []byte
	if cfg.Server.StreamTokenSecret != "" {
		secret = []byte(cfg.Server.StreamTokenSecret)
	}
	return native.NewTokens(secret, 0)
}
