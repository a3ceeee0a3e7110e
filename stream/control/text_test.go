package control

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"testing"

	"github.com/runnel/runnel/stream"
)

// FuzzNormalizeUTF8 holds the fused stream (and its fast path) to the
// wrappers it stands for, Normalize(UTF8(MaxTokens(p, max))): the same
// events, logprobs and end from any sequence of deltas (either channel or
// none, ASCII or not, split runes, empty, with logprobs), tool calls,
// usages, finishes and errors, ending cleanly or with an error, with or
// without a limit, over providers that can finish early or cannot.
func FuzzNormalizeUTF8(f *testing.F) {
	// An op is a kind (op%12) and a piece of 0-3 bytes (op>>4%4): 24 is
	// an output delta of 1 byte, 36 of 2, 48 of 3; 25 thinking, 38 with
	// logprobs, 51 with no channel, 7 a finish.
	f.Add([]byte("a\xe2\x82\xacb\xc3\xa9cdefgh"), []byte{0, 24, 36, 24, 25, 38, 51, 24, 6, 48, 48}, false)
	f.Add([]byte("h\xc3\xa9llo w\xffrld"), []byte{0, 24, 24, 24, 37, 28, 40, 48, 10, 24}, true)
	f.Add([]byte("abcdef"), []byte{0, 7, 48, 48}, false)                 // tokens after a finish
	f.Add([]byte("a\xe2b"), []byte{0, 24, 24, 24}, false)                // ASCII after a carried byte
	f.Add([]byte("abcdefgh"), []byte{3, 24, 24, 24, 24, 6}, false)       // max_tokens 3
	f.Add([]byte("abcdefgh"), []byte{0x82, 24, 24, 24, 24, 6}, false)    // 2, finishing early
	f.Add([]byte("a\xe2\x82\xacbc"), []byte{0x83, 24, 36, 24, 24}, true) // 3, split rune
	f.Fuzz(func(t *testing.T, text, ops []byte, fail bool) {
		// The first op, if any, is the max_tokens (0-5, 0 none) and
		// whether the provider can finish early (stream.Finisher).
		if len(ops) > 256 {
			// Carried logprobs join in quadratic time (JoinLogprobs):
			// thousands of empty deltas only slow the fuzzer down.
			ops = ops[:256]
		}
		max, finisher := 0, false
		if len(ops) > 0 {
			max, finisher = int(ops[0]%6), ops[0]&0x80 != 0
			ops = ops[1:]
		}
		var in []stream.Event
		for i, op := range ops {
			n := int(op>>4) % 4
			piece := string(text[:min(n, len(text))])
			text = text[len(piece):]
			var ev stream.Event
			switch op % 12 {
			case 0:
				ev = stream.Delta(piece)
			case 1:
				ev = stream.ThinkingDelta(piece)
			case 2:
				ev = lpDelta(piece, strconv.Itoa(i))
			case 3:
				ev = stream.Event{Kind: stream.KindDelta, Text: piece} // no channel
			case 4:
				ev = stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Arguments: piece}}
			case 5:
				ev = stream.Event{Kind: stream.KindToolCall}
			case 6:
				ev = stream.UsageEvent(stream.Usage{PromptTokens: i, CompletionTokens: n})
			case 7:
				ev = stream.Finished(stream.FinishLength)
			case 8:
				ev = stream.StoppedBy(piece)
			case 9:
				ev = stream.Finished(stream.FinishError)
			case 10:
				ev = stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "e%d", i))
			default:
				ev = stream.Delta("")
			}
			in = append(in, ev)
		}
		var err error
		if fail {
			err = errors.New("cut")
		}
		render := func(p stream.Provider) []string { out, _ := renderTokens(t, p, false, nil); return out }
		provider := func() stream.Provider {
			if finisher {
				return &finishing{events: in, err: err}
			}
			return &script{events: in, err: err}
		}
		fused := render(normalizeUTF8(provider(), max))
		apart := render(Normalize(UTF8(MaxTokens(provider(), max))))
		if !slices.Equal(fused, apart) {
			t.Fatalf("fused %q\napart %q", fused, apart)
		}
		// The token path (tokenText over a source with one), for every
		// read and for reads the text's bytes pick.
		for _, use := range [][]byte{nil, text} {
			tokens, _ := renderTokens(t, normalizeUTF8(tokenProvider{provider()}, max), true, use)
			if !slices.Equal(tokens, apart) {
				t.Fatalf("token path %q\napart %q", tokens, apart)
			}
		}
	})
}

// renderTokens is FuzzNormalizeUTF8's render of p's stream: each event
// with its logprobs, then the end. With tokens it reads through the
// stream's token path, which it must have: RecvToken, then Recv when it
// takes nothing, for the reads whose bit in use is set (all once use is
// used up); viaTokens counts the events RecvToken took.
func renderTokens(t *testing.T, p stream.Provider, tokens bool, use []byte) (out []string, viaTokens int) {
	s, err := p.Stream(context.Background(), &stream.Request{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts, _ := s.(stream.TokenStream)
	if tokens && ts == nil {
		t.Fatalf("%T has no token path", s)
	}
	for i := range 1 << 16 {
		if tokens && (i/8 >= len(use) || use[i/8]&(1<<(i%8)) != 0) {
			if text, ok := ts.RecvToken(); ok {
				out, viaTokens = append(out, show(stream.Delta(text))+"="), viaTokens+1
				continue
			}
		}
		ev, e := s.Recv()
		if e != nil {
			return append(out, "end:"+e.Error()), viaTokens
		}
		out = append(out, show(ev)+"="+string(ev.Logprobs()))
	}
	t.Fatal("no end")
	return nil, 0
}

// tokenProvider's streams are its provider's with a token path, as an
// upstream's is: RecvToken reads the next event and takes it when it is
// a token's (output, ASCII, no logprobs), else holds it for Recv.
type tokenProvider struct{ p stream.Provider }

func (p tokenProvider) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	s, err := p.p.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return &tokenSource{in: s}, nil
}

type tokenSource struct {
	in   stream.Stream
	held *stream.Event
	err  error
}

func (s *tokenSource) RecvToken() (string, bool) {
	if s.held != nil || s.err != nil {
		return "", false
	}
	ev, err := s.in.Recv()
	if err == nil && ev.Kind == stream.KindDelta && ev.Channel == stream.Output && ev.Text != "" && ascii(ev.Text) && ev.Logprobs() == "" {
		return ev.Text, true
	}
	s.held, s.err = &ev, err
	return "", false
}

func (s *tokenSource) Recv() (stream.Event, error) {
	if s.held != nil {
		ev, err := *s.held, s.err
		s.held, s.err = nil, nil
		return ev, err
	}
	return s.in.Recv()
}

func (s *tokenSource) Finish(r stream.FinishReason) bool { return stream.Finish(s.in, r) }
func (s *tokenSource) Close() error                      { return s.in.Close() }

// TestApplyFusesNormalizeUTF8: without stop sequences or think tags the
// chain ends in the fused stream; with either, in the separate wrappers.
func TestApplyFusesNormalizeUTF8(t *testing.T) {
	for _, tt := range []struct {
		name  string
		o     Options
		fused bool
	}{
		{"plain", Options{BufferSize: -1}, true},
		{"empty stop", Options{BufferSize: -1, Stop: []string{""}}, true},
		{"max tokens", Options{BufferSize: -1, MaxTokens: 5}, true},
		{"stop", Options{BufferSize: -1, Stop: []string{"x"}}, false},
		{"think", Options{BufferSize: -1, Think: &ThinkTags{Open: "<think>", Close: "</think>"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Apply(&script{}, tt.o).Stream(context.Background(), &stream.Request{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, ok := s.(*textStream); ok != tt.fused {
				t.Fatalf("%T, fused %v", s, tt.fused)
			}
		})
	}
}

// finishing is script's events from a provider that can finish early
// (stream.Finisher): once asked, it drops the content left and ends with
// the reason asked for in place of its own finish.
type finishing struct {
	events []stream.Event
	err    error
}

func (p *finishing) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return &finishingStream{events: p.events, err: p.err}, nil
}

type finishingStream struct {
	events []stream.Event
	err    error
	reason stream.FinishReason
}

func (s *finishingStream) Recv() (stream.Event, error) {
	for len(s.events) > 0 {
		ev := s.events[0]
		s.events = s.events[1:]
		if s.reason != "" {
			if isContent(ev) {
				continue
			}
			if ev.Kind == stream.KindFinish {
				return stream.Finished(s.reason), nil
			}
		}
		return ev, nil
	}
	if s.err != nil {
		return stream.Event{}, s.err
	}
	return stream.Event{}, io.EOF
}

func (s *finishingStream) Finish(r stream.FinishReason) bool { s.reason = r; return true }
func (s *finishingStream) Close() error                      { return nil }

// TestTextTokenPathFromTheFirstToken: the controls hold nothing when the
// stream opens, so a plain first token passes on the token path too, as
// every later one does; only where max_tokens leaves a single token does
// the first go through the controls' Recv (where it ends the stream).
func TestTextTokenPathFromTheFirstToken(t *testing.T) {
	in := []stream.Event{stream.Delta("a"), stream.Delta("b"), stream.Delta("c"), stream.Finished(stream.FinishStop)}
	for _, tc := range []struct {
		max, via int
		want     []string
	}{
		{0, 3, []string{"d:a=", "d:b=", "d:c=", "finish:stop=", "end:EOF"}},
		{3, 2, []string{"d:a=", "d:b=", "d:c=", "finish:stop=", "end:EOF"}},
		{1, 0, []string{"d:a=", "finish:length=", "end:EOF"}},
	} {
		got, via := renderTokens(t, normalizeUTF8(tokenProvider{&script{events: in}}, tc.max), true, nil)
		if !slices.Equal(got, tc.want) || via != tc.via {
			t.Errorf("max_tokens %d: %q, %d via the token path; want %q, %d", tc.max, got, via, tc.want, tc.via)
		}
	}
}
