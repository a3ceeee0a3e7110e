package control

import (
	"context"
	"io"

	"github.com/runnel/runnel/stream"
)

// queue holds the events a control has decided on but not yet returned, and
// the error that follows them. Controls that turn one inner event into
// several (a flushed hold-back and a finish) push them here. The backing
// array is reused, so a steady stream does not allocate.
type queue struct {
	evs  []stream.Event
	head int
	err  error // returned once evs is drained; io.EOF for a clean end
}

// push queues ev. Out of line: inlined, each push was some 300 bytes of
// code (the make, the append's growth and write barriers, the event's
// copy) in the middle of the controls' end-of-stream paths, which a call
// runs once and so finds out of the instruction cache.
//
//go:noinline
func (q *queue) push(ev stream.Event) {
	if q.evs == nil {
		// Room for the usage and the finish that end most streams: one
		// allocation where append would make two.
		q.evs = make([]stream.Event, 0, 2)
	}
	q.evs = append(q.evs, ev)
}

// pop returns the next queued event, or the pending error once the queue is
// empty. ok is false when there is nothing queued and no error. Out of
// line: inlined, its copies of an event would sit in the frame of every
// control's Recv while the stream waits (see utf8Stream.take).
//
//go:noinline
func (q *queue) pop() (ev stream.Event, err error, ok bool) {
	if q.head < len(q.evs) {
		ev = q.evs[q.head]
		q.evs[q.head] = stream.Event{}
		q.head++
		if q.head == len(q.evs) {
			q.evs, q.head = q.evs[:0], 0
		}
		return ev, nil, true
	}
	if q.err != nil {
		return stream.Event{}, q.err, true
	}
	return stream.Event{}, nil, false
}

// pending reports whether pop has something to return: inlined, it spares
// the common case (nothing queued) the call.
func (q *queue) pending() bool { return q.head < len(q.evs) || q.err != nil }

// end makes pop return io.EOF once the queue is drained.
func (q *queue) end() {
	if q.err == nil {
		q.err = io.EOF
	}
}

func isOutput(ev stream.Event) bool {
	return ev.Kind == stream.KindDelta && (ev.Channel == stream.Output || ev.Channel == "")
}

func isContent(ev stream.Event) bool {
	return (ev.Kind == stream.KindDelta && ev.Text != "") || ev.Kind == stream.KindToolCall
}

// wrap returns a Provider whose streams are p's, wrapped by w. Errors from
// p.Stream pass through unchanged.
func wrap(p stream.Provider, w func(in stream.Stream) stream.Stream) stream.Provider {
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		in, err := p.Stream(ctx, req)
		if err != nil {
			return nil, err
		}
		return w(in), nil
	})
}
