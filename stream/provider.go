package stream

import (
	"context"
	"io"
	"iter"
	"strings"
	"sync"
)

// Provider starts streamed LLM calls. Stream returns once the call has
// started (for an upstream, once response headers arrived), so that errors
// known before the first token (bad request, unknown model, no credits) are
// returned as an error and can become an HTTP status, not a mid-stream event.
//
// The returned Stream must stop its work when ctx is cancelled or when it is
// closed, whichever comes first.
type Provider interface {
	Stream(ctx context.Context, req *Request) (Stream, error)
}

// ProviderFunc adapts a function to the Provider interface.
type ProviderFunc func(ctx context.Context, req *Request) (Stream, error)

func (f ProviderFunc) Stream(ctx context.Context, req *Request) (Stream, error) { return f(ctx, req) }

// Stream is a pull-based sequence of events. The producer only advances as
// the consumer calls Recv, so a slow reader stalls the producer: that is the
// backpressure every stream has.
//
// Recv returns io.EOF after the last event. Any other error ends the stream
// as a failure; Normalize turns such an error into an Error and a Finish
// event. Recv must not be called concurrently with itself.
//
// Close releases the stream and cancels the work behind it. It is safe to
// call more than once and concurrently with Recv, which then returns.
type Stream interface {
	Recv() (Event, error)
	Close() error
}

// Events returns an iterator over s's events. It yields a final non-nil
// error other than io.EOF if the stream failed. Breaking out of the loop
// does not close s.
func Events(s Stream) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			ev, err := s.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// Go runs produce in its own goroutine and returns its events as a Stream,
// through a buffer of size events (at least 1). emit blocks while the buffer
// is full, which is how a slow reader pauses the producer, and returns false
// once the stream is closed or ctx is done: produce must then return
// promptly. A non-nil error from produce ends the stream with that error.
//
// Close waits for produce to return, so no goroutine outlives a closed
// stream.
func Go(ctx context.Context, size int, produce func(ctx context.Context, emit func(Event) bool) error) Stream {
	return goPipe(ctx, size, produce, nil)
}

func goPipe(ctx context.Context, size int, produce func(ctx context.Context, emit func(Event) bool) error, finish func(FinishReason) bool) *pipe {
	if size < 1 {
		size = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &pipe{ctx: ctx, cancel: cancel, done: make(chan struct{}),
		ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	if size == pooledRing {
		p.ring = ringPool.Get().(*[pooledRing]Event)[:]
	}
	if p.ring == nil {
		p.ring = make([]Event, size)
	}
	p.finish = finish
	go func() {
		err := produce(ctx, p.emit)
		p.mu.Lock()
		p.ended, p.err = true, err
		p.mu.Unlock()
		wake(p.ready)
		close(p.done)
	}()
	return p
}

// pooledRing is the buffer size whose rings are reused: the default
// per-stream buffer (the engine's, and read-ahead providers'). A ring of 64
// events is most of what such a stream allocates, and reusing it leaves
// the collector less to do.
const pooledRing = 64

var ringPool = sync.Pool{New: func() any { return new([pooledRing]Event) }}

// pipe is a bounded ring of events between a producer goroutine and the
// reader. ready and space (capacity 1) wake the side waiting on the other.
type pipe struct {
	mu      sync.Mutex
	ring    []Event
	head, n int
	ended   bool  // produce returned
	err     error // what it returned
	closed  bool  // Close gave the ring back

	ready, space chan struct{}
	ctx          context.Context
	cancel       context.CancelFunc
	done         chan struct{}
	pipeFinish
}

// wake signals c without blocking: one pending signal is enough, since the
// waiter rechecks the ring under the lock.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (p *pipe) emit(ev Event) bool {
	for {
		if p.ctx.Err() != nil {
			return false
		}
		p.mu.Lock()
		if p.n < len(p.ring) {
			p.ring[(p.head+p.n)%len(p.ring)] = ev
			p.n++
			p.mu.Unlock()
			wake(p.ready)
			return true
		}
		p.mu.Unlock()
		select {
		case <-p.space:
		case <-p.ctx.Done():
			return false
		}
	}
}

func (p *pipe) Recv() (Event, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return Event{}, context.Cause(p.ctx)
		}
		if p.n > 0 {
			ev := p.ring[p.head]
			p.ring[p.head] = Event{}
			p.head = (p.head + 1) % len(p.ring)
			p.n--
			p.mu.Unlock()
			wake(p.space)
			return ev, nil
		}
		if p.ended {
			err := p.err
			p.mu.Unlock()
			if err != nil {
				return Event{}, err
			}
			return Event{}, io.EOF
		}
		p.mu.Unlock()
		select {
		case <-p.ready:
		case <-p.ctx.Done():
			// Prefer a buffered event or the producer's own end, if they
			// are already there, over the bare context error.
			p.mu.Lock()
			more := !p.closed && (p.n > 0 || p.ended)
			p.mu.Unlock()
			if !more {
				return Event{}, context.Cause(p.ctx)
			}
		}
	}
}

func (p *pipe) Close() error {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		if cap(p.ring) == pooledRing {
			clear(p.ring)
			ringPool.Put((*[pooledRing]Event)(p.ring))
		}
		p.ring, p.n = nil, 0
	}
	return nil
}

// Slice returns a Stream that yields events in order, then io.EOF. It is
// for tests and for providers whose answer is already complete.
func Slice(events ...Event) Stream { return &slice{events: events} }

type slice struct {
	mu     sync.Mutex
	events []Event
}

func (s *slice) Recv() (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return Event{}, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *slice) Close() error {
	s.mu.Lock()
	s.events = nil
	s.mu.Unlock()
	return nil
}

// Result is a whole stream collected into one answer, for non-streaming
// endpoints and for tests.
type Result struct {
	Text      string // the output channel, joined
	Thinking  string // the thinking channel, joined
	ToolCalls []ToolCall
	Usage     *Usage
	Finish    FinishReason
	// StopSequence is the stop sequence that ended the stream, if one did.
	StopSequence string
	// Logprobs are the output's token log probabilities, the deltas'
	// joined (JoinLogprobs); "" when no delta carried any.
	Logprobs Logprobs
	Err      *Error // set when the stream failed
}

// Collect reads s to the end, closes it and joins its events. A stream that
// fails has Result.Err set and Finish set to FinishError.
func Collect(s Stream) Result {
	defer s.Close()
	var (
		r             Result
		text, thought strings.Builder
		logprobs      []Logprobs
	)
	for ev, err := range Events(s) {
		if err != nil {
			r.Err = AsError(err)
			r.Finish = FinishError
			break
		}
		switch ev.Kind {
		case KindDelta:
			if ev.Channel == Thinking {
				thought.WriteString(ev.Text)
			} else {
				text.WriteString(ev.Text)
			}
			if lp := ev.Logprobs(); lp != "" {
				logprobs = append(logprobs, lp)
			}
		case KindToolCall:
			r.ToolCalls = MergeToolCall(r.ToolCalls, *ev.ToolCall)
		case KindUsage:
			u := *ev.Usage
			r.Usage = &u
		case KindFinish:
			r.Finish, r.StopSequence = ev.Finish, ev.StopSequence()
		case KindError:
			r.Err = ev.Err
			r.Finish = FinishError
		}
	}
	r.Text, r.Thinking = text.String(), thought.String()
	r.Logprobs = JoinLogprobs(logprobs...)
	return r
}

// MergeToolCall folds a tool-call delta into the calls assembled so far.
func MergeToolCall(calls []ToolCall, d ToolCallDelta) []ToolCall {
	for len(calls) <= d.Index {
		calls = append(calls, ToolCall{})
	}
	c := &calls[d.Index]
	if d.ID != "" {
		c.ID = d.ID
	}
	if d.Name != "" {
		c.Name = d.Name
	}
	c.Arguments += d.Arguments
	return calls
}
