package control

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/runnel/runnel/stream"
)

// tokens is a provider of n identical deltas then a finish; it allocates
// nothing per token, so the benchmark measures the controls alone.
type tokens struct{ n int }

func (p tokens) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return &tokenStream{left: p.n}, nil
}

type tokenStream struct{ left int }

func (s *tokenStream) Recv() (stream.Event, error) {
	switch {
	case s.left > 0:
		s.left--
		return stream.Delta(" token"), nil
	case s.left == 0:
		s.left--
		return stream.Finished(stream.FinishStop), nil
	}
	return stream.Event{}, io.EOF
}

func (s *tokenStream) Close() error { return nil }

// BenchmarkChain reads b.N tokens through one stream: the per-token cost of
// the whole control chain, against the bare provider in the same run.
func BenchmarkChain(b *testing.B) {
	full := Options{
		Stop:      []string{"\n\n\n", "</answer>"},
		MaxTokens: 1 << 30,
		Timeouts:  stream.Timeouts{FirstToken: time.Minute, Idle: time.Minute, Total: time.Hour},
	}
	think := DefaultThinkTags
	withThink := full
	withThink.Think = &think
	cases := []struct {
		name string
		wrap func(stream.Provider) stream.Provider
	}{
		{"bare", func(p stream.Provider) stream.Provider { return p }},
		{"normalize", Normalize},
		// A call as runnel serve makes it by default: max_tokens, no
		// stop sequences (the fused stream).
		{"max_tokens", func(p stream.Provider) stream.Provider {
			return Apply(p, Options{MaxTokens: 1 << 30, BufferSize: -1})
		}},
		{"unbuffered", func(p stream.Provider) stream.Provider {
			o := full
			o.BufferSize = -1
			return Apply(p, o)
		}},
		{"full", func(p stream.Provider) stream.Provider { return Apply(p, full) }},
		{"full+think", func(p stream.Provider) stream.Provider { return Apply(p, withThink) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			s, err := c.wrap(tokens{n: b.N}).Stream(context.Background(), &stream.Request{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			n := 0
			for {
				ev, err := s.Recv()
				if err != nil {
					break
				}
				if ev.Kind == stream.KindDelta {
					n++
				}
			}
			if n != b.N {
				b.Fatalf("read %d tokens, want %d", n, b.N)
			}
		})
	}
}
