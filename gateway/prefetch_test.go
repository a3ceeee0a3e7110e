package gateway

import (
	"context"
	"slices"
	"testing"
	"unsafe"

	"github.com/runnel/runnel/stream"
)

// TestCallPrefetchFields: a started call's Prefetch finds its call's
// state from the call, and the fields it brings in are the state's, in
// order, and include every field the meter's RecvToken touches and the
// text controls' last 48 bytes; a copy of the call, or a call without a
// meter, finds no state (it is not where a copy is).
func TestCallPrefetchFields(t *testing.T) {
	r := NewStaticRouter()
	r.Register("p", stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) {
		return stream.Slice(stream.Delta("a"), stream.Finished(stream.FinishStop)), nil
	}))
	g := New(Options{Router: r})
	c, err := g.Start(context.Background(), &stream.Request{Model: "p/m", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cs := (*callState)(unsafe.Pointer(uintptr(unsafe.Pointer(c.m)) - unsafe.Offsetof(callState{}.m)))
	if got, want := c.stateAddr(), uintptr(unsafe.Pointer(cs)); got != want {
		t.Errorf("state at %#x, want %#x", got, want)
	}
	if !slices.IsSorted(tokenFields) || uintptr(tokenFields[len(tokenFields)-1]) >= unsafe.Sizeof(*cs) {
		t.Errorf("fields %v not in order within the state (%d bytes)", tokenFields, unsafe.Sizeof(*cs))
	}
	has := func(name string, p unsafe.Pointer) {
		off := uint16(uintptr(p) - uintptr(unsafe.Pointer(cs)))
		if !slices.Contains(tokenFields, off) {
			t.Errorf("%s at %d is not prefetched (%v)", name, off, tokenFields)
		}
	}
	m := &cs.m
	for name, p := range map[string]unsafe.Pointer{"tin": unsafe.Pointer(&m.tin), "settled": unsafe.Pointer(&m.settled),
		"seen": unsafe.Pointer(&m.seen), "base": unsafe.Pointer(&m.base), "mu": unsafe.Pointer(&m.mu),
		"out": unsafe.Pointer(&m.out), "last": unsafe.Pointer(&m.last), "hasLast": unsafe.Pointer(&m.hasLast),
		"closed": unsafe.Pointer(&m.closed), "tokens": unsafe.Pointer(&m.tokens),
		"the controls' last byte": unsafe.Add(unsafe.Pointer(m), -1), "the controls' 48th last": unsafe.Add(unsafe.Pointer(m), -48)} {
		has(name, p)
	}
	c.Prefetch()

	cp := *c
	if a := cp.stateAddr(); a != 0 {
		t.Errorf("a copy's state at %#x, want none", a)
	}
	cp.Prefetch()
	var zero Call
	if a := zero.stateAddr(); a != 0 {
		t.Errorf("a zero call's state at %#x, want none", a)
	}
	zero.Prefetch()
}
