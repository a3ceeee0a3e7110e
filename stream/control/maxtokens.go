package control

import (
	"github.com/runnel/runnel/stream"
)

// MaxTokens returns a Provider whose streams end with FinishLength once they
// carried n content tokens, counting each non-empty delta (on any channel) as
// one token: the engine and the mock send one event per token, and upstream
// APIs enforce the limit themselves as well.
//
// When the n-th token passes, the inner stream is asked to finish
// (stream.Finisher) with FinishLength: any content it had already produced
// beyond n is dropped (and the finish is then length), and its own usage and
// finish are passed on. A stream that cannot finish runs on until a token
// beyond n arrives, so a provider that stops at exactly n keeps its own
// finish and usage; the extra token is dropped and the inner stream closed.
// n <= 0 means no limit and returns p.
func MaxTokens(p stream.Provider, n int) stream.Provider {
	if n <= 0 {
		return p
	}
	return wrap(p, func(in stream.Stream) stream.Stream { return newMaxTokens(in, n) })
}

func newMaxTokens(in stream.Stream, n int) stream.Stream { return &maxTokens{in: in, left: n} }

type maxTokens struct {
	in        stream.Stream
	q         queue
	finishing bool // the inner stream was asked to finish at the limit
	cut       bool // content was dropped while finishing
	// left last: textStream's fast paths read it, and nothing else of m,
	// beside its own fields (see Text).
	left int
}

func (m *maxTokens) Recv() (stream.Event, error) {
	if m.q.pending() {
		ev, err, _ := m.q.pop()
		return ev, err
	}
	for {
		if ev, err, ok := m.take(m.in.Recv()); ok {
			return ev, err
		}
	}
}

// take completes what Recv received: ok is false for content dropped
// while finishing (Recv then reads on).
func (m *maxTokens) take(ev stream.Event, err error) (stream.Event, error, bool) {
	if err != nil {
		return ev, err, true
	}
	if m.finishing {
		switch {
		case isContent(ev):
			m.cut = true
			return ev, nil, false
		case ev.Kind == stream.KindFinish && m.cut:
			return stream.Finished(stream.FinishLength), nil, true
		}
		return ev, nil, true
	}
	if ev.Kind != stream.KindDelta || ev.Text == "" {
		return ev, nil, true
	}
	if m.left == 0 {
		m.q.end()
		m.in.Close()
		return stream.Finished(stream.FinishLength), nil, true
	}
	m.left--
	if m.left == 0 && stream.Finish(m.in, stream.FinishLength) {
		m.finishing = true
	}
	return ev, nil, true
}

// open reports whether the next delta only counts down: nothing queued,
// not finishing, and more than one token left.
func (m *maxTokens) open() bool { return !m.q.pending() && !m.finishing && m.left > 1 }

func (m *maxTokens) Close() error { return m.in.Close() }

// Finish forwards to the inner stream; see stream.Finisher.
func (m *maxTokens) Finish(r stream.FinishReason) bool { return stream.Finish(m.in, r) }
