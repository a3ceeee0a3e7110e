package control

import (
	"github.com/runnel/runnel/stream"
)

// MaxTokens returns a Provider whose streams end with FinishLength once they
// carried n content tokens, counting each non-empty delta (on any channel) as
// one token: the engine and the mock send one event per token, and upstream
// APIs enforce the limit themselves as well. The limit is only applied when a
// token beyond it arrives, so a provider that stops at exactly n keeps its
// own finish and usage; the extra token is dropped and the inner stream
// closed. n <= 0 means no limit and returns p.
func MaxTokens(p stream.Provider, n int) stream.Provider {
	if n <= 0 {
		return p
	}
	return wrap(p, func(in stream.Stream) stream.Stream {
		return &maxTokens{in: in, left: n}
	})
}

type maxTokens struct {
	in   stream.Stream
	left int
	q    queue
}

func (m *maxTokens) Recv() (stream.Event, error) {
	if ev, err, ok := m.q.pop(); ok {
		return ev, err
	}
	ev, err := m.in.Recv()
	if err != nil || ev.Kind != stream.KindDelta || ev.Text == "" {
		return ev, err
	}
	if m.left == 0 {
		m.q.end()
		m.in.Close()
		return stream.Finished(stream.FinishLength), nil
	}
	m.left--
	return ev, nil
}

func (m *maxTokens) Close() error { return m.in.Close() }
