package control

import (
	"strings"
	"unicode/utf8"

	"github.com/runnel/runnel/stream"
)

// UTF8 returns a Provider whose deltas are valid UTF-8 and never split a
// rune: an incomplete rune at the end of a delta is carried into the next
// delta of the same channel, and flushed before any other event or the end.
// Each byte that cannot be decoded (including an incomplete rune left at the
// end) becomes U+FFFD. A delta that is nothing but a carried prefix is
// dropped, so deltas after UTF8 may be fewer than the tokens produced.
func UTF8(p stream.Provider) stream.Provider {
	return wrap(p, func(in stream.Stream) stream.Stream {
		return &utf8Stream{in: in}
	})
}

type utf8Stream struct {
	in    stream.Stream
	carry [2]string // output, thinking
	// carryLogprobs are those of deltas that were all carry: they go with
	// the channel's next delta.
	carryLogprobs [2]stream.Logprobs
	q             queue
}

func (u *utf8Stream) Recv() (stream.Event, error) {
	for {
		if u.q.pending() {
			ev, err, _ := u.q.pop()
			return ev, err
		}
		if ev, ok := u.take(u.in.Recv()); ok {
			return ev, nil
		}
	}
}

// take completes what Recv received: false when it holds nothing to pass
// on yet. Out of line, so that its locals are no part of Recv's frame,
// which stays on an open stream's goroutine stack while the upstream is
// silent.
//
//go:noinline
func (u *utf8Stream) take(ev stream.Event, err error) (stream.Event, bool) {
	if err == nil && ev.Kind == stream.KindDelta && ev.Text != "" && ascii(ev.Text) && u.empty() {
		// The common token: nothing carried, and no byte that could
		// start, end or break a rune. The general path below would
		// return it as it is.
		return ev, true
	}
	return u.general(ev, err)
}

// empty reports whether u carries nothing (text or logprobs) into the
// next delta.
func (u *utf8Stream) empty() bool {
	return u.carry[0] == "" && u.carry[1] == "" && u.carryLogprobs[0] == "" && u.carryLogprobs[1] == ""
}

// general is take for any event (FuzzUTF8Fast holds take to it).
func (u *utf8Stream) general(ev stream.Event, err error) (stream.Event, bool) {
	if err != nil {
		u.flush()
		u.q.err = err
		return ev, false
	}
	if ev.Kind != stream.KindDelta {
		if u.carry[0] == "" && u.carry[1] == "" {
			return ev, true
		}
		u.flush()
		u.q.push(ev)
		return ev, false
	}
	i := 0
	if ev.Channel == stream.Thinking {
		i = 1
	}
	c := &u.carry[i]
	if lp := u.carryLogprobs[i]; lp != "" {
		ev.SetLogprobs(stream.JoinLogprobs(lp, ev.Logprobs()))
		u.carryLogprobs[i] = ""
	}
	text := ev.Text
	if *c != "" {
		text = *c + text
	}
	cut := completeLen(text)
	*c = text[cut:]
	text = text[:cut]
	if !utf8.ValidString(text) {
		text = replaceInvalid(text)
	}
	if text == "" {
		u.carryLogprobs[i] = ev.Logprobs()
		return ev, false
	}
	ev.Text = text
	return ev, true
}

func (u *utf8Stream) flush() {
	for i, ch := range [2]stream.Channel{stream.Output, stream.Thinking} {
		if u.carry[i] != "" {
			ev := stream.Event{Kind: stream.KindDelta, Channel: ch, Text: replaceInvalid(u.carry[i])}
			ev.SetLogprobs(u.carryLogprobs[i])
			u.q.push(ev)
			u.carry[i], u.carryLogprobs[i] = "", ""
		}
	}
}

func (u *utf8Stream) Close() error { return u.in.Close() }

// ascii reports whether s is all ASCII (a token's few bytes: a loop, not
// utf8.ValidString's setup).
func ascii(s string) bool {
	var or byte
	for i := 0; i < len(s); i++ {
		or |= s[i]
	}
	return or < utf8.RuneSelf
}

// completeLen returns the length of s without a trailing incomplete (but so
// far valid-looking) rune.
func completeLen(s string) int {
	n := len(s)
	for i := n - 1; i >= 0 && i >= n-utf8.UTFMax+1; i-- {
		b := s[i]
		if b < utf8.RuneSelf {
			return n
		}
		if utf8.RuneStart(b) {
			if utf8.FullRuneInString(s[i:]) {
				return n
			}
			return i
		}
	}
	return n
}

// replaceInvalid replaces each undecodable byte of s with U+FFFD.
func replaceInvalid(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

// Finish forwards to the inner stream; see stream.Finisher.
func (u *utf8Stream) Finish(r stream.FinishReason) bool { return stream.Finish(u.in, r) }
