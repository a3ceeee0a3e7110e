package gateway

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/runnel/runnel/stream"
)

// moody is a StreamChecker whose answer changes: the router must ask it
// every call, not remember its first answer.
type moody struct {
	stream.Provider
	no atomic.Bool
}

func (m *moody) CanStream(string) bool { return !m.no.Load() }

// routerAnswers is what r answers for each model, twice over: the second
// answer is a remembered route's.
func routerAnswers(t *testing.T, r *StaticRouter, models []string) []string {
	t.Helper()
	var out []string
	for _, m := range models {
		var first string
		for i := range 2 {
			p, prov, up, err := r.Route(m)
			served := fmt.Sprintf("%p", p)
			if fb, ok := p.(*Fallback); ok { // each router makes its own
				served = "fallback"
				for _, t := range fb.Targets {
					served += fmt.Sprintf(" %s %s %p", t.Name, t.Model, t.Provider)
				}
			}
			a := fmt.Sprintf("%s: %s %q %q %v streams %v", m, served, prov, up, err, r.CanStream(m))
			if i == 0 {
				first = a
			} else if a != first {
				t.Errorf("remembered answer %s, first %s", a, first)
			}
		}
		out = append(out, first)
	}
	return out
}

// A remembered route is the one the table gives: for every kind of name,
// as first routed and after any change to the table (each forgets what
// was remembered); a StreamChecker is asked every call.
func TestRoutesRemembered(t *testing.T) {
	noop := stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) { return stream.Slice(), nil })
	other := stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) { return stream.Slice(), nil })
	m := &moody{Provider: noop}
	models := []string{"live/x", "live/a/b", "batch/y", "moody/z", "chain", "one", "broken", "bare", "", "nowhere/x"}
	setUp := func(r *StaticRouter) {
		r.Register("live", noop)
		r.Register("batch", noop)
		r.Register("moody", m)
		r.Alias("chain", Target{"live", "a"}, Target{"moody", "b"})
		r.Alias("one", Target{"batch", "c"})
		r.Alias("broken", Target{"live", "a"}, Target{"gone", "d"})
	}
	// Each change, made to a router that routed every name before it
	// (changed) and to one that routed none (fresh): they must agree.
	changes := []func(r *StaticRouter){
		func(r *StaticRouter) {},
		func(r *StaticRouter) { r.NoStream("batch") },
		func(r *StaticRouter) { r.SetDefault("live") },
		func(r *StaticRouter) { r.Register("live", other) },
		func(r *StaticRouter) { r.Register("gone", noop) },
		func(r *StaticRouter) { r.Alias("one", Target{"live", "e"}) },
		func(r *StaticRouter) { m.no.Store(true) },
	}
	changed := NewStaticRouter()
	setUp(changed)
	for i, change := range changes {
		change(changed)
		fresh := NewStaticRouter()
		setUp(fresh)
		for _, c := range changes[:i+1] {
			c(fresh)
		}
		got, want := routerAnswers(t, changed, models), routerAnswers(t, fresh, models)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after change %d, remembered routes\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if changed.CanStream("moody/z") || changed.CanStream("chain") {
		t.Error("a StreamChecker's changed answer was not asked for")
	}
}

// A remembered name is the router's own copy: a request's model may be
// a view of a body that goes back to its pool and is written over.
func TestRoutesRememberedCopy(t *testing.T) {
	r := NewStaticRouter()
	noop := stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) { return stream.Slice(), nil })
	r.Register("live", noop)
	body := []byte("live/model-a")
	view := unsafe.String(&body[0], len(body))
	if _, _, up, err := r.Route(view); err != nil || up != "model-a" {
		t.Fatalf("Route: %q %v", up, err)
	}
	copy(body, "live/model-b")
	for name, e := range *r.routed.Load() {
		if name != "live/model-a" || e.model != "model-a" {
			t.Fatalf("remembered %q as %q after the body changed", name, e.model)
		}
	}
	if _, _, up, err := r.Route("live/model-a"); err != nil || up != "model-a" {
		t.Fatalf("after the body changed, Route(live/model-a) = %q %v", up, err)
	}
	if _, _, up, err := r.Route("live/model-b"); err != nil || up != "model-b" {
		t.Fatalf("Route(live/model-b) = %q %v", up, err)
	}
}

// At most maxRouted names, none longer than maxRoutedName, are
// remembered; the rest are routed as they come, the same.
func TestRoutesRememberedBounded(t *testing.T) {
	r := NewStaticRouter()
	noop := stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) { return stream.Slice(), nil })
	r.Register("live", noop)
	long := "live/" + strings.Repeat("m", maxRoutedName)
	for i := range maxRouted + 10 {
		name := fmt.Sprintf("live/m%d", i)
		if _, _, up, err := r.Route(name); err != nil || up != name[len("live/"):] {
			t.Fatalf("Route(%s) = %q %v", name, up, err)
		}
	}
	if _, _, up, err := r.Route(long); err != nil || up != long[len("live/"):] {
		t.Fatalf("Route(long) = %q %v", up, err)
	}
	m := *r.routed.Load()
	if _, ok := m[long]; ok || len(m) != maxRouted {
		t.Fatalf("%d names remembered (the long one: %v), want %d", len(m), ok, maxRouted)
	}
	if n := testing.AllocsPerRun(100, func() { r.Route("live/m3"); r.CanStream("live/m3") }); n != 0 {
		t.Errorf("a remembered route: %v allocations", n)
	}
}
