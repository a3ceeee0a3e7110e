package control

import (
	"strings"

	"github.com/runnel/runnel/stream"
)

// Stop returns a Provider that ends streams at the first stop sequence in the
// output channel, matched across token boundaries. The text before the stop
// is delivered and the stop itself never is. While the output ends with a
// possible start of a stop sequence, that tail (at most the longest stop's
// length minus one byte) is held back until the next token decides it.
//
// On a match the text before the stop is delivered and the inner stream is
// asked to finish (stream.Finisher): further content is dropped, its usage
// (which counts the tokens that formed the stop: the model generated them)
// is passed on, and the stream finishes with FinishStop naming the stop
// (stream.StoppedBy). An inner stream
// that cannot finish is closed instead, which cancels the upstream work and
// leaves the usage to the gateway's estimate. Empty stop strings are
// ignored; with none left Stop returns p.
//
// Given valid UTF-8 text and stops, the cut points fall on rune boundaries.
func Stop(p stream.Provider, stops ...string) stream.Provider {
	var ss []string
	longest := 0
	for _, s := range stops {
		if s != "" {
			ss = append(ss, s)
			longest = max(longest, len(s))
		}
	}
	if len(ss) == 0 {
		return p
	}
	return wrap(p, func(in stream.Stream) stream.Stream {
		return &stopStream{in: in, stops: ss, hold: longest - 1}
	})
}

type stopStream struct {
	in      stream.Stream
	stops   []string
	hold    int    // longest stop length - 1
	pending string // held-back output
	// heldLogprobs are those of deltas held back whole: they go with the
	// next output delta, so logprobs are never dropped with a held tail.
	heldLogprobs stream.Logprobs
	q            queue
	// finishing: a stop matched and the inner stream was asked to finish;
	// only its usage and end are still wanted.
	finishing bool
	matched   string // the stop that matched

}

func (s *stopStream) Recv() (stream.Event, error) {
	for {
		if s.q.pending() {
			ev, err, _ := s.q.pop()
			return ev, err
		}
		ev, err := s.in.Recv()
		if err != nil {
			s.flush()
			s.q.err = err
			continue
		}
		if s.finishing {
			switch ev.Kind {
			case stream.KindUsage:
				return ev, nil
			case stream.KindFinish:
				return stream.StoppedBy(s.matched), nil
			}
			continue // content past the stop, or an error after it
		}
		if !isOutput(ev) {
			if ev.Kind == stream.KindDelta || s.pending == "" {
				// Thinking passes by a held-back tail: more output may
				// still complete a stop.
				return ev, nil
			}
			s.flush()
			s.q.push(ev)
			continue
		}
		text := ev.Text
		if s.pending != "" {
			text = s.pending + text
			s.pending = ""
		}
		if s.heldLogprobs != "" {
			ev.SetLogprobs(stream.JoinLogprobs(s.heldLogprobs, ev.Logprobs()))
			s.heldLogprobs = ""
		}
		if i, stop := s.index(text); i >= 0 {
			s.matched = stop
			if i > 0 {
				ev.Text = text[:i]
				s.q.push(ev)
			}
			if stream.Finish(s.in, stream.FinishStop) {
				s.finishing = true
				continue
			}
			s.q.push(stream.StoppedBy(stop))
			s.q.end()
			s.in.Close()
			continue
		}
		h := s.holdback(text)
		s.pending = text[len(text)-h:]
		if h < len(text) {
			ev.Text = text[:len(text)-h]
			return ev, nil
		}
		s.heldLogprobs = ev.Logprobs()
	}
}

// index returns the position of the earliest stop in text and that stop,
// or -1.
func (s *stopStream) index(text string) (int, string) {
	best, which := -1, ""
	for _, stop := range s.stops {
		if i := strings.Index(text, stop); i >= 0 && (best < 0 || i < best) {
			best, which = i, stop
		}
	}
	return best, which
}

// holdback returns the length of the longest suffix of text that is a proper
// prefix of some stop.
func (s *stopStream) holdback(text string) int {
	for h := min(s.hold, len(text)); h > 0; h-- {
		tail := text[len(text)-h:]
		for _, stop := range s.stops {
			if len(stop) > h && stop[:h] == tail {
				return h
			}
		}
	}
	return 0
}

func (s *stopStream) flush() {
	if s.pending != "" {
		ev := stream.Delta(s.pending)
		ev.SetLogprobs(s.heldLogprobs)
		s.q.push(ev)
		s.pending, s.heldLogprobs = "", ""
	}
}

func (s *stopStream) Close() error { return s.in.Close() }

func (s *stopStream) Finish(r stream.FinishReason) bool { return stream.Finish(s.in, r) }
