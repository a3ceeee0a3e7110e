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
	left      int
	q         queue
	finishing bool // the inner stream was asked to finish at the limit
	cut       bool // content was dropped while finishing
}

func (m *maxTokens) Recv() (stream.Event, error) {
	if ev, err, ok := m.q.pop(); ok {
		return ev, err
	}
	for {
		ev, err := m.in.Recv()
		if err != nil {
			return ev, err
		}
		if m.finishing {
			switch {
			case isContent(ev):
				m.cut = true
				continue
			case ev.Kind == stream.KindFinish && m.cut:
				return stream.Finished(stream.FinishLength), nil
			}
			return ev, nil
		}
		if ev.Kind != stream.KindDelta || ev.Text == "" {
			return ev, nil
		}
		if m.left == 0 {
			m.q.end()
			m.in.Close()
			return stream.Finished(stream.FinishLength), nil
		}
		m.left--
		if m.left == 0 && stream.Finish(m.in, stream.FinishLength) {
			m.finishing = true
		}
		return ev, nil
	}
}

func (m *maxTokens) Close() error { return m.in.Close() }

// Finish forwards to the inner stream; see stream.Finisher.
func (m *maxTokens) Finish(r stream.FinishReason) bool { return stream.Finish(m.in, r) }
