package server

import (
	"log/slog"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/dialect/websocket"
)

// DialectOptions are the settings every dialect server shares.
type DialectOptions struct {
	BodyLimit int64         // request body cap (dialect.DefaultBodyLimit when 0)
	KeepAlive time.Duration // SSE keep-alive after this much silence (15s when 0)
	Logger    *slog.Logger
}

// Dialects returns the server side of every API dialect over gw, for
// Options.Dialects. A new dialect adds its one line here.
func Dialects(gw dialect.Gateway, o DialectOptions) []Dialect {
	return []Dialect{
		openai.NewServer(gw, openai.Options{BodyLimit: o.BodyLimit, KeepAlive: o.KeepAlive, Logger: o.Logger}),
		ollama.NewServer(gw, ollama.Options{BodyLimit: o.BodyLimit}),
		anthropic.NewServer(gw, anthropic.Options{BodyLimit: o.BodyLimit}),
		native.NewServer(gw, native.Options{BodyLimit: o.BodyLimit, KeepAlive: o.KeepAlive}),
		websocket.NewServer(gw, websocket.Options{ReadLimit: o.BodyLimit}),
	}
}
