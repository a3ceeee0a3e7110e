package gateway

import (
	"context"
	"testing"

	"github.com/runnel/runnel/stream"
)

// pickyProvider knows which of its models stream, and lists them.
type pickyProvider struct{ stream.Provider }

func (pickyProvider) CanStream(model string) bool { return model != "dall" }

func (pickyProvider) Models(context.Context) ([]ModelInfo, error) {
	return []ModelInfo{{ID: "chat"}, {ID: "dall", NoStream: true}}, nil
}

func TestCanStream(t *testing.T) {
	r := NewStaticRouter()
	noop := stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) { return stream.Slice(), nil })
	r.Register("live", noop)
	r.Register("batch", noop)
	r.Register("picky", pickyProvider{noop})
	r.NoStream("batch")
	r.Alias("fast", Target{"live", "a"}, Target{"picky", "chat"})
	r.Alias("mixed", Target{"live", "a"}, Target{"batch", "b"})
	r.Alias("draw", Target{"picky", "dall"})
	r.List(ModelInfo{ID: "batch/b", Provider: "batch"})
	r.SetDefault("batch")
	g := New(Options{Router: r})

	for model, want := range map[string]bool{
		"live/x":     true,
		"batch/x":    false,
		"picky/x":    true,
		"picky/dall": false, // the provider says so itself
		"fast":       true,
		"mixed":      false, // a fallback that cannot stream may serve it
		"draw":       false,
		"bare":       false, // the default provider is batch
		"":           true,  // unknown: Route reports it
	} {
		if got := g.CanStream(model); got != want {
			t.Errorf("CanStream(%q) = %v, want %v", model, got, want)
		}
	}

	models, err := g.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range models {
		got[m.ID] = m.NoStream
	}
	for id, want := range map[string]bool{"batch/b": true, "fast": false, "mixed": true, "draw": true, "picky/chat": false, "picky/dall": true} {
		if ns, ok := got[id]; !ok || ns != want {
			t.Errorf("Models: %s NoStream = %v (listed %v), want %v", id, ns, ok, want)
		}
	}

	// A router that knows nothing of streaming lets everything stream.
	if !New(Options{Router: plainRouter{r}}).CanStream("batch/x") {
		t.Error("a router without CanStream refused to stream")
	}
}

// plainRouter hides StaticRouter's CanStream.
type plainRouter struct{ r *StaticRouter }

func (p plainRouter) Route(model string) (stream.Provider, string, string, error) {
	return p.r.Route(model)
}

func (p plainRouter) Models(ctx context.Context) ([]ModelInfo, error) { return p.r.Models(ctx) }
