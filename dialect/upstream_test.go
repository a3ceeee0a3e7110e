package dialect

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/runnel/runnel/stream"
)

type closer struct{ closed int }

func (c *closer) Close() error { c.closed++; return nil }

func TestUpstreamStream(t *testing.T) {
	steps := [][]stream.Event{{stream.Delta("a"), stream.Delta("b")}, nil, {stream.Finished(stream.FinishStop)}, {stream.Delta("never read")}}
	reads := 0
	ctx, cancel := context.WithCancel(context.Background())
	body := &closer{}
	s := NewUpstreamStream(ctx, cancel, body, func() ([]stream.Event, error) {
		reads++
		return steps[reads-1], nil
	})
	var got []stream.Event
	for ev, err := range stream.Events(s) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if want := []stream.Event{stream.Delta("a"), stream.Delta("b"), stream.Finished(stream.FinishStop)}; !reflect.DeepEqual(got, want) || reads != 3 {
		t.Errorf("got %v after %d reads", got, reads)
	}
	s.Close()
	s.Close()
	if body.closed != 1 || ctx.Err() == nil {
		t.Errorf("closed %d times, ctx %v", body.closed, ctx.Err())
	}

	// A read failing because the stream was closed reports the cancellation.
	ctx, cancel = context.WithCancel(context.Background())
	s = NewUpstreamStream(ctx, cancel, &closer{}, func() ([]stream.Event, error) { return nil, io.ErrUnexpectedEOF })
	s.Close()
	if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("then: %v", err)
	}
}
