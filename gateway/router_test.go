package gateway_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// An alias routes to its first target with the others as fallbacks in
// their order, over the providers registered when it is used (even after
// the alias was configured), and routing through it allocates nothing:
// what it routes to is made once, not per call.
func TestRouteAlias(t *testing.T) {
	r := gateway.NewStaticRouter()
	r.Alias("chain", gateway.Target{Provider: "b", Model: "x"}, gateway.Target{Provider: "a", Model: "y"}, gateway.Target{Provider: "b", Model: "z"})
	r.Alias("one", gateway.Target{Provider: "a", Model: "w"})
	r.Alias("broken", gateway.Target{Provider: "a", Model: "w"}, gateway.Target{Provider: "nowhere", Model: "v"})
	a, b := mock.New(mock.Options{}), mock.New(mock.Options{})
	r.Register("a", mock.New(mock.Options{})) // replaced below
	r.Register("a", a)
	r.Register("b", b)

	p, prov, up, err := r.Route("chain")
	fb, ok := p.(*gateway.Fallback)
	if err != nil || !ok || prov != "b" || up != "x" {
		t.Fatalf("chain: %T %q %q %v", p, prov, up, err)
	}
	want := []gateway.FallbackTarget{{Name: "b", Model: "x", Provider: b}, {Name: "a", Model: "y", Provider: a}, {Name: "b", Model: "z", Provider: b}}
	if !reflect.DeepEqual(fb.Targets, want) || fb.Targets[1].Provider != stream.Provider(a) {
		t.Errorf("chain's targets %+v", fb.Targets)
	}
	if p, prov, up, err := r.Route("one"); err != nil || p != stream.Provider(a) || prov != "a" || up != "w" {
		t.Errorf("one: %v %q %q %v", p, prov, up, err)
	}
	var e *stream.Error
	if _, _, _, err := r.Route("broken"); !errors.As(err, &e) || e.Code != stream.CodeInternal ||
		e.Message != `model "broken": alias target provider "nowhere" is not configured` {
		t.Errorf("broken: %v", err)
	}

	for _, model := range []string{"chain", "one"} {
		if n := testing.AllocsPerRun(100, func() { r.Route(model) }); n != 0 {
			t.Errorf("routing through %q: %v allocations", model, n)
		}
	}
}
