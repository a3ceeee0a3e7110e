package control

import (
	"strings"

	"github.com/runnel/runnel/stream"
)

// ThinkTags are the tags a model writes around its reasoning in its output.
type ThinkTags struct {
	Open, Close string
}

// DefaultThinkTags are the tags of DeepSeek-R1, Qwen3 and their kin.
var DefaultThinkTags = ThinkTags{Open: "<think>", Close: "</think>"}

// ThinkSplit returns a Provider that moves output text between tags.Open and
// tags.Close to the thinking channel, for models that write their reasoning
// inline. The tags themselves are dropped. A tag may be cut across tokens:
// only a tail that could be the start of the awaited tag is held back. Empty
// tags fall back to DefaultThinkTags.
func ThinkSplit(p stream.Provider, tags ThinkTags) stream.Provider {
	if tags.Open == "" || tags.Close == "" {
		tags = DefaultThinkTags
	}
	return wrap(p, func(in stream.Stream) stream.Stream {
		return &thinkStream{in: in, tags: tags}
	})
}

type thinkStream struct {
	in      stream.Stream
	tags    ThinkTags
	inside  bool
	pending string // held-back possible tag prefix
	q       queue
}

func (t *thinkStream) Recv() (stream.Event, error) {
	for {
		if t.q.pending() {
			ev, err, _ := t.q.pop()
			return ev, err
		}
		ev, err := t.in.Recv()
		if err != nil {
			t.flush()
			t.q.err = err
			continue
		}
		if !isOutput(ev) {
			if t.pending != "" {
				t.flush()
				t.q.push(ev)
				continue
			}
			return ev, nil
		}
		text := ev.Text
		if t.pending != "" {
			text = t.pending + text
			t.pending = ""
		}
		for text != "" {
			tag := t.tags.Open
			if t.inside {
				tag = t.tags.Close
			}
			if i := strings.Index(text, tag); i >= 0 {
				t.emit(text[:i])
				t.inside = !t.inside
				text = text[i+len(tag):]
				continue
			}
			h := tagPrefix(text, tag)
			t.emit(text[:len(text)-h])
			t.pending = text[len(text)-h:]
			break
		}
	}
}

func (t *thinkStream) emit(text string) {
	if text == "" {
		return
	}
	ch := stream.Output
	if t.inside {
		ch = stream.Thinking
	}
	t.q.push(stream.Event{Kind: stream.KindDelta, Channel: ch, Text: text})
}

// flush sends a held-back tail as plain text: the tag never came.
func (t *thinkStream) flush() {
	t.emit(t.pending)
	t.pending = ""
}

// tagPrefix returns the length of the longest suffix of text that is a
// proper prefix of tag.
func tagPrefix(text, tag string) int {
	for h := min(len(tag)-1, len(text)); h > 0; h-- {
		if strings.HasPrefix(tag, text[len(text)-h:]) {
			return h
		}
	}
	return 0
}

func (t *thinkStream) Close() error { return t.in.Close() }

// Finish forwards to the inner stream; see stream.Finisher.
func (t *thinkStream) Finish(r stream.FinishReason) bool { return stream.Finish(t.in, r) }
