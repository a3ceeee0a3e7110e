package bench

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// MockHandler serves the OpenAI API over the mock provider alone: no
// gateway, auth, accounting or controls, so it stands in for a fast
// upstream when measuring what the gateway adds. Every model name goes to
// the mock; o are the default knobs, and a model's query string overrides
// them per request ("default?tokens=50&itl=2ms").
func MockHandler(o mock.Options) http.Handler {
	mux := http.NewServeMux()
	openai.NewServer(&mockGateway{p: mock.New(o)}, openai.Options{}).Register(mux)
	return mux
}

// MockAnthropicHandler is MockHandler serving Anthropic's Messages API.
func MockAnthropicHandler(o mock.Options) http.Handler {
	mux := http.NewServeMux()
	anthropic.NewServer(&mockGateway{p: mock.New(o)}, anthropic.Options{}).Register(mux)
	return mux
}

// mockGateway is the smallest dialect.Gateway: a call is the mock's stream.
type mockGateway struct {
	p *mock.Provider
	n atomic.Uint64
}

func (g *mockGateway) Start(ctx context.Context, req *stream.Request) (*gateway.Call, error) {
	s, err := g.p.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	id := "mock-" + strconv.FormatUint(g.n.Add(1), 10)
	return gateway.NewCall(s, id, "mock", req.Model, time.Now(), nil), nil
}

func (g *mockGateway) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	return g.p.Models(ctx)
}
