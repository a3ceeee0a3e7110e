package dialect

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/runnel/runnel/internal/prefetch"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// UpstreamStream is a stream.Stream over an upstream's HTTP response. Each
// call of read decodes the next wire event (an NDJSON line, an SSE event)
// into zero or more events; it is called only once the previous events are
// consumed, so nothing is read ahead of the consumer. read must map the end
// of the body to final events or to an error; after a Finish event, or an
// error, read is not called again. Close cancels ctx (through cancel) and
// closes body, which ends a read in progress; Recv then returns ctx's cause.
// cancel may be nil when ctx is not the stream's own (the gateway cancels
// a call's context as it closes its stream): Close then closes the body,
// and a read failing after it returns context.Canceled, which a context of
// the stream's own would give, without the cost of one a call.
// After a Finish event Close leaves what is left of the body (the end of
// a chunked answer, a last event) to a Drain, which reads it so that its
// connection goes back to the pool instead of being closed, without
// holding back the end of the call: a provider makes the stream before
// it sends its request, sends it with RequestContext, then calls Begin;
// read reads the body through Body, through Events' reader, or itself
// (ReadsBody), by which Close knows whether the answer's reads met its
// end.
type UpstreamStream struct {
	// Provider names the upstream in transport errors (TransportError).
	Provider string

	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	read   EventReader
	once   sync.Once
	closed atomic.Bool // Close began

	pending []stream.Event
	done    bool
	// finished: a Finish event came, the answer is complete. Recv stores
	// it once, after the read that met the Finish, which is read's last
	// call; Close, which may run on another goroutine (a control's
	// AfterFunc, the server's cancellation), loads it, and when it is
	// true every read (through's end included) happened before.
	finished atomic.Bool
	through  BodyReader // body, as read reads it (Body)
	// readErr is ReadsBody's, or nil: a pointer, not an interface to
	// assert at Close (the runtime's getitab, for every stream, until the
	// call site's cache fills), nor 16 bytes that would take the stream
	// to a larger size class.
	readErr *error
	ev      sse.Reader // Events'; in the stream's own allocation: one a call less
	token   *Shape     // TokenUpstream's
	drain   Drain
}

// EventReader is what an UpstreamStream reads its answer with: see
// UpstreamStream for what ReadEvents must do. It is an interface, not a
// func, so that a provider passes its decoder itself: a method value
// (d.next) would be an allocation a call.
type EventReader interface {
	ReadEvents() ([]stream.Event, error)
}

// EventFunc is a func as an EventReader.
type EventFunc func() ([]stream.Event, error)

// ReadEvents calls f.
func (f EventFunc) ReadEvents() ([]stream.Event, error) { return f() }

// NewUpstreamStream returns a stream reading body through read; with a
// nil body, a stream whose request is yet to be sent (Begin).
func NewUpstreamStream(ctx context.Context, cancel context.CancelFunc, body io.ReadCloser, read EventReader) *UpstreamStream {
	u := &UpstreamStream{ctx: ctx, cancel: cancel}
	if body != nil {
		u.Begin(body, read)
	}
	return u
}

// TokenUpstream is an UpstreamStream with a token path
// (stream.TokenStream): the next wire event, read by its Events reader,
// when it is of the token's Shape with a plain text (Shape.Token), as
// its text alone (ok, text non-empty ASCII); any other event is left
// unread, for the next ReadEvents to decode. The shape is the
// decoder's, which records it; the reader is read here, not through
// the decoder: an interface call a token less.
type TokenUpstream struct {
	UpstreamStream
}

// NewTokenUpstream is NewUpstreamStream with a token path of token's
// shape, for a request yet to be sent (Begin); Events must make its
// reader before RecvToken is called.
func NewTokenUpstream(ctx context.Context, cancel context.CancelFunc, token *Shape) *TokenUpstream {
	return &TokenUpstream{UpstreamStream: UpstreamStream{ctx: ctx, cancel: cancel, token: token}}
}

// RecvToken implements stream.TokenStream: with nothing pending, the
// next wire event when it is a plain token.
func (u *TokenUpstream) RecvToken() (string, bool) {
	if len(u.pending) > 0 || u.done {
		return "", false
	}
	return u.token.Token(&u.ev)
}

// Prefetch brings what a token's read touches into the cache (package
// prefetch): the stream's token fields, and its token's shape.
func (u *UpstreamStream) Prefetch() {
	prefetch.Fields(uintptr(unsafe.Pointer(u)), upstreamFields)
	if u.token != nil {
		u.token.Prefetch()
	}
}

// upstreamFields are the offsets in an UpstreamStream of what RecvToken
// reads, in increasing order.
var upstreamFields = prefetch.Offsets(unsafe.Offsetof(UpstreamStream{}.pending), unsafe.Offsetof(UpstreamStream{}.done),
	unsafe.Offsetof(UpstreamStream{}.token))

// RequestContext is the context to send the stream's request with
// (Drain.Context): ctx, until a complete answer's Close.
func (u *UpstreamStream) RequestContext() context.Context { return u.drain.Context(u.ctx) }

// Begin makes u read body, its request's answer, through read.
func (u *UpstreamStream) Begin(body io.ReadCloser, read EventReader) {
	u.body, u.read = body, read
	u.through.Reset(u.ctx, body)
}

// Body is the body read through ctx's stream.BeforeWait function
// (BodyReader), noting its end: for read to read, once Begin is called.
func (u *UpstreamStream) Body() io.Reader { return &u.through }

// Events returns an SSE reader of the body, events at most max bytes
// long, for read to read once Begin is called, in place of Body: the
// reader calls ctx's stream.BeforeWait function before every read of
// the body itself (sse.Reader.SetBeforeRead), a layer less a read than
// Body, and Close asks it whether the reads met the body's end. One a
// stream.
func (u *UpstreamStream) Events(max int) *sse.Reader {
	u.ev.Init(u.body)
	u.ev.SetBeforeRead(u.through.f) // Begin's look-up of it
	WakesUp(u.through.f, u)
	u.ev.SetMaxEventSize(max)
	return &u.ev
}

// ReadsBody tells u, once Begin is called, that its read reads the body
// itself, in a buffer of its own, neither through Body nor Events
// (Ollama's lines), and keeps the first error a read of it returned in
// *readErr, by which Close knows whether the reads met the body's end.
// It returns what read calls before every read of the body: ctx's
// stream.BeforeWait function (Begin's look-up of it), or nil. That is a
// layer less a read than Body.
func (u *UpstreamStream) ReadsBody(readErr *error) stream.Waiter {
	u.readErr = readErr
	return u.through.f
}

// Recv implements stream.Stream.
func (u *UpstreamStream) Recv() (stream.Event, error) {
	for len(u.pending) == 0 {
		if u.done {
			return stream.Event{}, io.EOF
		}
		evs, err := u.read.ReadEvents()
		if err != nil {
			u.done = true
			if u.ctx.Err() != nil {
				return stream.Event{}, context.Cause(u.ctx) // closed or cancelled
			}
			if u.closed.Load() {
				return stream.Event{}, context.Canceled // closed, ctx not its own
			}
			var se *stream.Error
			if !errors.As(err, &se) {
				// A read from the connection failed: its text holds
				// addresses, which stay in the log.
				err = TransportError(u.ctx, u.Provider, err)
			}
			return stream.Event{}, err
		}
		for _, ev := range evs {
			if ev.Kind == stream.KindFinish {
				u.done = true
				u.finished.Store(true)
			}
		}
		u.pending = evs
	}
	ev := u.pending[0]
	u.pending = u.pending[1:]
	return ev, nil
}

// Close implements stream.Stream.
func (u *UpstreamStream) Close() error {
	u.once.Do(func() {
		u.closed.Store(true)
		if u.finished.Load() {
			u.drain.Close(u.body, u.through.EOF() || u.ev.SourceEOF() || u.readErr != nil && *u.readErr == io.EOF)
		} else {
			u.body.Close()
		}
		if u.cancel != nil {
			u.cancel() // a drain's request no longer follows it
		}
	})
	return nil
}

// BodyReader is an upstream's body read through ctx's stream.BeforeWait
// function when it has one: the function runs before every read of body,
// which is where a stream may wait for its upstream (a buffered decoder
// reads only once it has used up what it holds). A provider whose streams
// read their body only this way may implement stream.WaitNotifier. A
// stream keeps it in its own struct (no allocation of its own); it also
// notes the end of the body.
type BodyReader struct {
	r   io.Reader
	f   stream.Waiter // or nil
	eof bool
}

// Reset makes b read body, calling ctx's BeforeWait function (if any)
// before every read.
func (b *BodyReader) Reset(ctx context.Context, body io.Reader) {
	*b = BodyReader{r: body, f: stream.BeforeWait(ctx)}
}

func (b *BodyReader) Read(p []byte) (int, error) {
	if b.f != nil {
		b.f.BeforeWait()
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// EOF reports whether a read returned io.EOF: the body is used up, and
// its connection went back to the pool.
func (b *BodyReader) EOF() bool { return b.eof }
