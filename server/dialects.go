package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/dialect/websocket"
	"github.com/runnel/runnel/respstore"
	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/stream"
)

// DialectOptions are the settings dialect servers share.
type DialectOptions struct {
	BodyLimit int64         // request body cap (dialect.DefaultBodyLimit when 0)
	KeepAlive time.Duration // SSE keep-alive after this much silence (15s when 0)
	// OpenAIOmitEventIDs drops the id: lines of the OpenAI dialect's
	// streams (see openai.Options.OmitEventIDs).
	OpenAIOmitEventIDs bool
	Logger             *slog.Logger
	// Resume configures resumable streams (grace, retain; defaults when
	// zero). Their owner is Identity's caller.
	Resume resume.Options

	// Auth is on: the native GET stream then requires a stream token.
	Auth bool
	// Identity and WithIdentity carry the caller's identity through a
	// native stream token (see native.Options); nil when there is no
	// account layer.
	Identity     func(ctx context.Context) string
	WithIdentity func(ctx context.Context, identity string) (context.Context, *stream.Error)

	// WebSocketOrigins are browser origins allowed to open /ws/chat besides
	// the server's own; nil allows same-origin only.
	WebSocketOrigins []string
	// Authorize refuses a /ws/chat caller without a stream token before the
	// upgrade (see websocket.Options.Authorize), one cancelling a stream or
	// asking for a stream token (native.Options.Authorize), and one
	// listing models (openai and ollama Options.Authorize); nil lets every
	// caller through, each prompt being admitted by the gateway anyway.
	Authorize func(ctx context.Context) error
	// Resumer is the resumption layer (resume.Options and Identity make
	// one when nil).
	Resumer *dialect.Resumer
	// Responses keeps the stored responses of /v1/responses (see
	// openai.Options.Store); a respstore.Memory when nil.
	Responses respstore.Store
	// Tokens issues the stream tokens of POST /api/v1/stream-tokens, which
	// the native GET stream and /ws/chat (?token=) accept; a fresh random
	// key when nil.
	Tokens *native.Tokens
}

// Dialects returns the server side of every API dialect over gw, for
// Options.Dialects. A new dialect adds its one line here.
func Dialects(gw dialect.Gateway, o DialectOptions) []Dialect {
	tokens := o.Tokens
	if tokens == nil {
		tokens = native.NewTokens(nil, 0)
	}
	// /ws/chat accepts the native stream tokens: the same caller, restored
	// the same way.
	wsToken := func(ctx context.Context, token string) (context.Context, error) {
		identity, err := tokens.Verify(token)
		if err != nil {
			return nil, err
		}
		if o.Auth && identity == "" {
			// Issued to a caller without a key: refused before the
			// upgrade rather than on every prompt.
			return nil, errors.New("the stream token carries no caller (it was issued without an API key)")
		}
		if o.WithIdentity != nil {
			var e *stream.Error
			if ctx, e = o.WithIdentity(ctx, identity); e != nil {
				return nil, e
			}
		}
		return ctx, nil
	}
	// One registry for every dialect's resumable streams: one cap on
	// them, and a stream resumes only for the caller who started it.
	res := o.Resumer
	if res == nil {
		res = dialect.NewResumer(o.Resume, o.Identity)
		res.KeepAlive = o.KeepAlive
	}
	return []Dialect{
		openai.NewServer(gw, openai.Options{BodyLimit: o.BodyLimit, KeepAlive: o.KeepAlive, Logger: o.Logger, OmitEventIDs: o.OpenAIOmitEventIDs, Resume: res, Authorize: o.Authorize, Store: o.Responses}),
		ollama.NewServer(gw, ollama.Options{BodyLimit: o.BodyLimit, Authorize: o.Authorize}),
		anthropic.NewServer(gw, anthropic.Options{BodyLimit: o.BodyLimit, KeepAlive: o.KeepAlive, Resume: res, Authorize: o.Authorize}),
		native.NewServer(gw, native.Options{BodyLimit: o.BodyLimit, KeepAlive: o.KeepAlive, Tokens: tokens,
			Identity: o.Identity, WithIdentity: o.WithIdentity, RequireToken: o.Auth, Authorize: o.Authorize, Resume: res}),
		websocket.NewServer(gw, websocket.Options{ReadLimit: o.BodyLimit, OriginPatterns: o.WebSocketOrigins,
			Token: wsToken, Authorize: o.Authorize}),
	}
}
