package control

import (
	"context"
	"math"

	"github.com/runnel/runnel/stream"
)

// normalizeUTF8 is Normalize(UTF8(MaxTokens(p, max))) as one stream, for
// the chain without stop sequences or think tags (the common call): a
// token that none of the three would change (ASCII text, nothing carried,
// nothing queued, no finish held, more than one token left) goes from p's
// stream to the caller in one Recv, not through three layers; any other
// event takes the controls' own paths. FuzzNormalizeUTF8 holds it to the
// wrappers.
func normalizeUTF8(p stream.Provider, max int) stream.Provider {
	return stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		in, err := p.Stream(ctx, req)
		if err != nil {
			return nil, stream.AsError(err)
		}
		return openText(ctx, in, max), nil
	})
}

// openText is Normalize(UTF8(MaxTokens(in, max))) in one allocation (no
// MaxTokens when max is 0).
func openText(ctx context.Context, in stream.Stream, max int) stream.Stream {
	return new(Text).open(ctx, in, max)
}

// Text is the room for a stream's plain-text controls (Normalize, UTF8
// and MaxTokens as one stream), for a caller that keeps a stream's state
// in an allocation of its own: opened there (Text.Open), they are no
// object of their own that a token reaches through a pointer (at c=500 a
// stream's state is out of the core's caches by its next token, and each
// object reached costs a miss; docs/benchmarks.md, issue 13, hotlines and
// fewobj sessions). What a token reads of them is in their last 48 bytes,
// so that a caller can put them beside its own token fields. A Text is
// opened once, and must not be copied once opened.
type Text struct {
	t tokenText
}

// open is openText into t: a tokenText when in has a token path of its
// own (stream.TokenStream), else its textStream.
func (t *Text) open(ctx context.Context, in stream.Stream, max int) stream.Stream {
	if tin, ok := in.(stream.TokenStream); ok {
		s := &t.t
		s.tin = tin
		s.init(ctx, in, max)
		return s
	}
	s := &t.t.textStream
	s.init(ctx, in, max)
	return s
}

func (s *textStream) init(ctx context.Context, in stream.Stream, max int) {
	s.in, s.u.in = in, in
	if max > 0 {
		s.m = maxTokens{in: in, left: max}
		s.u.in, s.limited = &s.m, true
	} else {
		// Unlimited: m is no part of the chain, and its count, which
		// nothing reads, lets the fast paths count down without asking
		// whether they are limited (a branch a token less).
		s.m.left = math.MaxInt
	}
	s.n.ctx, s.n.in = ctx, &s.u
	s.n.q.evs = s.nq[:0]
	// The controls hold nothing yet: the first token takes the fast
	// path too, not the controls' own Recvs (the code lines of their
	// deltas' paths, run once a call for it, are no part of a call).
	s.plain = s.open()
}

// tokenText is a textStream over a stream with a token path: it has one
// too (stream.TokenStream), which passes a token on while the controls
// are plain, as Recv's fast path does.
type tokenText struct {
	textStream
	// tin last, after textStream's m.left, in and plain: what RecvToken
	// and Recv's fast path touch, in one cache line (see Text).
	tin stream.TokenStream // in
}

// RecvToken is Recv's fast path for a token of in's token path, whose
// text is ASCII by its contract: with the controls plain, none of them
// would change it; else nothing is read, and Recv takes the next event.
func (s *tokenText) RecvToken() (string, bool) {
	if !s.plain {
		return "", false
	}
	text, ok := s.tin.RecvToken()
	if ok {
		s.m.left-- // plain: more than one was left (see init)
		s.plain = s.m.left > 1
	}
	return text, ok
}

// textStream is normalized over utf8Stream over maxTokens (when limited),
// in one allocation.
type textStream struct {
	// nq is the room n's queue starts with, for the usage and the finish
	// that end a stream: an allocation a call less than the queue's own,
	// for 160 bytes more in every open stream's state.
	nq [2]stream.Event
	n  normalized // reads u
	u  utf8Stream // reads m if limited, else p's stream
	// The fast paths' fields last, with m's count (its last field), next
	// to tokenText's tin.
	m       maxTokens     // reads p's stream
	in      stream.Stream // p's stream, which the fast path reads
	limited bool
	// plain says the controls hold nothing (see open): the next event
	// may take the fast path. Only Recv's own calls change what open
	// reads, so it is found again after each of them (but the fast
	// path's, which knows what it changed), and at init.
	plain bool
}

// open reports whether the controls hold nothing: nothing queued or
// carried, no finish held, and (when limited) more than one token left.
func (s *textStream) open() bool {
	return !s.n.q.pending() && s.n.finish == "" && !s.u.q.pending() && s.u.empty() && (!s.limited || s.m.open())
}

// Recv and its helpers keep one Event (named results, slow writing it in
// place): each Event returned by value is 80 bytes copied in Recv's code.
func (s *textStream) Recv() (ev stream.Event, err error) {
	if !s.plain {
		ev, err = s.n.Recv()
		s.plain = s.open()
		return ev, err
	}
	ev, err = s.in.Recv() // m's source when limited, else u's: both in
	if err == nil && ev.Kind == stream.KindDelta && ev.Text != "" && ascii(ev.Text) {
		s.m.left-- // open: more than one was left (see init)
		s.plain = s.m.left > 1
		if ev.Channel == "" {
			ev.Channel = stream.Output
		}
		return ev, nil
	}
	err = s.slow(&ev, err)
	return ev, err
}

// slow passes what Recv received, *ev, through the controls, as n.Recv
// would have, and sets what Recv returns in its place (out of line, for a
// small Recv frame).
//
//go:noinline
func (s *textStream) slow(ev *stream.Event, err error) error {
	*ev, err = s.slowTake(*ev, err)
	s.plain = s.open()
	return err
}

func (s *textStream) slowTake(ev stream.Event, err error) (stream.Event, error) {
	if s.limited {
		var ok bool
		if ev, err, ok = s.m.take(ev, err); !ok {
			return s.n.Recv()
		}
	}
	if ev, ok := s.u.take(ev, err); ok {
		if ev, ok := s.n.take(ev, nil); ok {
			return ev, nil
		}
	}
	return s.n.Recv()
}

func (s *textStream) Close() error { return s.n.Close() }

// Finish forwards to the inner stream; see stream.Finisher.
func (s *textStream) Finish(r stream.FinishReason) bool { return s.n.Finish(r) }
