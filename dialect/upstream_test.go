package dialect

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// closer is an upstream body: rest is what the stream's reads left of it.
type closer struct {
	rest   string
	closed int
	ctx    context.Context
}

func (c *closer) Close() error { c.closed++; return nil }

func (c *closer) Read(p []byte) (int, error) {
	if c.closed > 0 {
		return 0, errors.New("read after close")
	}
	if c.rest == "" {
		return 0, io.EOF
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

func TestUpstreamStream(t *testing.T) {
	steps := [][]stream.Event{{stream.Delta("a"), stream.Delta("b")}, nil, {stream.Finished(stream.FinishStop)}, {stream.Delta("never read")}}
	reads := 0
	ctx, cancel := context.WithCancel(context.Background())
	body := &closer{rest: "\r\n0\r\n\r\n", ctx: ctx}
	s := NewUpstreamStream(ctx, cancel, body, EventFunc(func() ([]stream.Event, error) {
		reads++
		return steps[reads-1], nil
	}))
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
	if ctx.Err() == nil {
		t.Error("ctx not cancelled")
	}
	// After its Finish, the rest of the body is read (by a drain, after
	// Close returned), then the body closed: the connection goes back to
	// the pool.
	WaitDrains()
	if body.closed != 1 || body.rest != "" {
		t.Errorf("closed %d times, %q left", body.closed, body.rest)
	}

	// An answer whose reads (through Body) met the body's end has it
	// closed at once.
	ctx = context.Background()
	body = &closer{rest: "a", ctx: ctx}
	s = NewUpstreamStream(ctx, nil, nil, nil)
	s.Begin(body, EventFunc(func() ([]stream.Event, error) {
		io.ReadAll(s.Body())
		return []stream.Event{stream.Finished(stream.FinishStop)}, nil
	}))
	stream.Collect(s)
	s.Close()
	if body.closed != 1 {
		t.Errorf("an ended body closed %d times at Close", body.closed)
	}

	// So does one whose reads through Events met it, the reader calling
	// the BeforeWait function before each of them (a read for the event,
	// one that found the end).
	waits := 0
	ctx = stream.WithBeforeWait(context.Background(), func() { waits++ })
	body = &closer{rest: "data: a\n\n", ctx: ctx}
	s = NewUpstreamStream(ctx, nil, nil, nil)
	var events *sse.Reader
	s.Begin(body, EventFunc(func() ([]stream.Event, error) {
		if _, err := events.NextRaw(); err != nil {
			return nil, err
		}
		events.NextRaw() // the end
		return []stream.Event{stream.Finished(stream.FinishStop)}, nil
	}))
	events = s.Events(8)
	stream.Collect(s)
	s.Close()
	if body.closed != 1 || waits != 2 {
		t.Errorf("an ended body, read by Events, closed %d times at Close after %d waits, want 1 after 2", body.closed, waits)
	}

	// And one whose read reads the body itself (ReadsBody), calling the
	// BeforeWait function before each read.
	waits = 0
	body = &closer{rest: "a", ctx: ctx}
	s = NewUpstreamStream(ctx, nil, nil, nil)
	own := &ownReader{body: body}
	s.Begin(body, own)
	own.before = s.ReadsBody(&own.rerr)
	stream.Collect(s)
	s.Close()
	if body.closed != 1 || waits != 2 {
		t.Errorf("an ended body, read by its read itself, closed %d times at Close after %d waits, want 1 after 2", body.closed, waits)
	}

	// A read failing because the stream was closed reports the cancellation.
	ctx, cancel = context.WithCancel(context.Background())
	unfinished := &closer{rest: "more", ctx: ctx}
	s = NewUpstreamStream(ctx, cancel, unfinished, EventFunc(func() ([]stream.Event, error) { return nil, io.ErrUnexpectedEOF }))
	s.Close()
	if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("then: %v", err)
	}
	// An answer that did not finish is not read on: closing its body
	// ends the upstream's work.
	if unfinished.rest != "more" {
		t.Errorf("an unfinished answer's body was read on at Close")
	}

	// Without a context of its own (cancel nil), Close closes the body
	// and leaves the caller's context; a read failing after it reports
	// the cancellation all the same.
	ctx = context.Background()
	unfinished = &closer{rest: "more", ctx: ctx}
	s = NewUpstreamStream(ctx, nil, unfinished, EventFunc(func() ([]stream.Event, error) { return nil, io.ErrUnexpectedEOF }))
	s.Close()
	s.Close()
	if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("after Close, ctx not its own: %v", err)
	}
	if unfinished.closed != 1 || unfinished.rest != "more" {
		t.Errorf("closed %d times, rest %q", unfinished.closed, unfinished.rest)
	}
	// Before Close, a failed read is the transport's error, as with a
	// context of its own.
	s = NewUpstreamStream(ctx, nil, &closer{rest: "more", ctx: ctx}, EventFunc(func() ([]stream.Event, error) { return nil, io.ErrUnexpectedEOF }))
	if _, err := s.Recv(); errors.Is(err, context.Canceled) || err == nil {
		t.Errorf("a read failing before Close: %v", err)
	}
}

// ownReader is a read that reads its body itself (ReadsBody): to its end,
// then a finish.
type ownReader struct {
	body   io.Reader
	before stream.Waiter
	rerr   error
}

func (r *ownReader) ReadEvents() ([]stream.Event, error) {
	for r.rerr == nil {
		r.before.BeforeWait()
		_, r.rerr = r.body.Read(make([]byte, 8))
	}
	return []stream.Event{stream.Finished(stream.FinishStop)}, nil
}

// Recv and Close may run on different goroutines (a control's AfterFunc,
// the server's cancellation closes a stream while its reader is in Recv):
// the finish Recv notes and Close reads is shared between them. Under
// -race this fails if it is not synchronised.
func TestUpstreamStreamRecvRacesClose(t *testing.T) {
	for range 20 {
		s := NewUpstreamStream(context.Background(), nil, io.NopCloser(strings.NewReader("\r\n0\r\n\r\n")), EventFunc(func() ([]stream.Event, error) {
			return []stream.Event{stream.Finished(stream.FinishStop)}, nil
		}))
		var wg sync.WaitGroup
		wg.Go(func() {
			if ev, err := s.Recv(); err != nil || ev.Kind != stream.KindFinish {
				t.Errorf("Recv: %v %v", ev, err)
			}
		})
		wg.Go(func() { s.Close() })
		wg.Wait()
	}
	WaitDrains()
}
