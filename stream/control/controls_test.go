package control

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/runnel/runnel/stream"
)

func TestStop(t *testing.T) {
	tool := stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Name: "f"}}
	tests := []struct {
		name   string
		stops  []string
		events []stream.Event
		err    error
		want   []string
		closed bool // the inner stream was closed by the stop
	}{
		{"no match", []string{"END"}, deltas("Hello", " world"), nil, []string{"d:Hello", "d: world"}, false},
		{"inside one token", []string{"END"}, deltas("abENDcd", "x"), nil, []string{"d:ab", "finish:stop(END)"}, true},
		{"at the start", []string{"END"}, deltas("END", "x"), nil, []string{"finish:stop(END)"}, true},
		{"across tokens", []string{"END"}, deltas("ab", "E", "N", "Dx", "y"), nil,
			[]string{"d:ab", "finish:stop(END)"}, true},
		{"partial then not", []string{"END"}, deltas("aE", "Nb", "c"), nil,
			[]string{"d:a", "d:ENb", "d:c"}, false},
		{"held tail flushed at end", []string{"END"}, deltas("aEN"), nil, []string{"d:a", "d:EN"}, false},
		{"held tail flushed before usage", []string{"END"},
			cat(deltas("aE"), evs(stream.UsageEvent(stream.Usage{PromptTokens: 1}), stream.Finished(stream.FinishStop))),
			nil, []string{"d:a", "d:E", "usage:1/0", "finish:stop"}, false},
		{"held tail flushed before error", []string{"END"}, deltas("aE"), errors.New("boom"),
			[]string{"d:a", "d:E", "ERR:boom"}, false},
		{"held tail flushed before tool call", []string{"END"}, evs(stream.Delta("aE"), tool), nil,
			[]string{"d:a", "d:E", "tool:0:f:"}, false},
		{"thinking passes a held tail", []string{"END"},
			evs(stream.Delta("aE"), stream.ThinkingDelta("END"), stream.Delta("ND")), nil,
			[]string{"d:a", "t:END", "finish:stop(END)"}, true},
		{"earliest of several", []string{"cd", "bc"}, deltas("abcd"), nil, []string{"d:a", "finish:stop(bc)"}, true},
		{"hold back only longest-1", []string{"xxxx"}, deltas("axxx", "xb"), nil,
			[]string{"d:a", "finish:stop(xxxx)"}, true},
		{"overlapping prefix", []string{"aab"}, deltas("a", "a", "a", "b"), nil,
			[]string{"d:a", "finish:stop(aab)"}, true},
		{"newline stop", []string{"\n\n"}, deltas("one\n", "\ntwo"), nil, []string{"d:one", "finish:stop(\n\n)"}, true},
		{"multibyte stop", []string{"é!"}, deltas("caf", "é", "!"), nil, []string{"d:caf", "finish:stop(é!)"}, true},
		{"empty stops ignored", []string{""}, deltas("a"), nil, []string{"d:a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &script{events: tt.events, err: tt.err}
			s, err := Stop(p, tt.stops...).Stream(context.Background(), &stream.Request{})
			if err != nil {
				t.Fatal(err)
			}
			check(t, drain(t, s), tt.want...)
			if got := p.closed.Load() == 1; got != tt.closed {
				t.Errorf("inner closed = %v, want %v", got, tt.closed)
			}
			s.Close()
		})
	}
}

// TestStopHoldBack checks the bound on held-back text for every split of a
// text into tokens: what has been delivered plus what is held back is the
// whole input so far, and at most len(longest stop)-1 bytes are held.
func TestStopHoldBack(t *testing.T) {
	stops := []string{"STOP", "ST!"}
	text := "aSTbSTOcSTOPd"
	for cut := 1; cut < len(text); cut++ {
		p := &script{events: deltas(text[:cut], text[cut:])}
		got := strings.Join(run(t, Stop(p, stops...)), "")
		joined := strings.ReplaceAll(strings.ReplaceAll(got, "d:", ""), "finish:stop(STOP)", "")
		if joined != "aSTbSTOc" || !strings.HasSuffix(got, "finish:stop(STOP)") {
			t.Fatalf("cut %d: got %q", cut, got)
		}
	}
	// Byte by byte, nothing is delivered late by more than 3 bytes.
	s := &stopStream{stops: stops, hold: 3}
	for i := range len(text) {
		if h := s.holdback(text[:i+1]); h > 3 {
			t.Fatalf("holdback %d > 3", h)
		}
	}
}

func TestMaxTokens(t *testing.T) {
	usage := stream.UsageEvent(stream.Usage{CompletionTokens: 3})
	tests := []struct {
		name   string
		n      int
		events []stream.Event
		want   []string
		closed bool
	}{
		{"under", 3, deltas("a", "b"), []string{"d:a", "d:b"}, false},
		{"exactly, provider's own end kept", 3, cat(deltas("a", "b", "c"), evs(usage, stream.Finished(stream.FinishLength))),
			[]string{"d:a", "d:b", "d:c", "usage:0/3", "finish:length"}, false},
		{"over", 2, deltas("a", "b", "c", "d"), []string{"d:a", "d:b", "finish:length"}, true},
		{"thinking counts", 2, evs(stream.ThinkingDelta("h"), stream.Delta("a"), stream.Delta("b")),
			[]string{"t:h", "d:a", "finish:length"}, true},
		{"empty deltas and tool calls do not count", 1,
			evs(stream.Delta(""), stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Name: "f"}}, stream.Delta("a"), stream.Delta("b")),
			[]string{"d:", "tool:0:f:", "d:a", "finish:length"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &script{events: tt.events}
			s, _ := MaxTokens(p, tt.n).Stream(context.Background(), &stream.Request{})
			check(t, drain(t, s), tt.want...)
			if got := p.closed.Load() == 1; got != tt.closed {
				t.Errorf("closed by the limit = %v, want %v", got, tt.closed)
			}
			s.Close()
		})
	}
	if p := (&script{}); MaxTokens(p, 0) != stream.Provider(p) {
		t.Error("MaxTokens(p, 0) should be p")
	}
}

func TestUTF8(t *testing.T) {
	euro := "€" // e2 82 ac
	tests := []struct {
		name   string
		events []stream.Event
		want   []string
	}{
		{"ascii untouched", deltas("ab", "c"), []string{"d:ab", "d:c"}},
		{"split rune joined", deltas("a"+euro[:1], euro[1:2], euro[2:]+"b"), []string{"d:a", "d:" + euro + "b"}},
		{"four byte rune byte by byte", deltas("😀"[:1], "😀"[1:2], "😀"[2:3], "😀"[3:]), []string{"d:😀"}},
		{"invalid bytes replaced", deltas("a\xffb", "\xc0"), []string{"d:a\uFFFDb", "d:\uFFFD"}},
		{"incomplete at end flushed", deltas("a" + euro[:2]), []string{"d:a", "d:\uFFFD\uFFFD"}},
		{"incomplete before finish", evs(stream.Delta("x"+euro[:1]), stream.Finished(stream.FinishStop)),
			[]string{"d:x", "d:\uFFFD", "finish:stop"}},
		{"channels carried apart", evs(stream.Delta(euro[:1]), stream.ThinkingDelta(euro[:2]), stream.Delta(euro[1:]),
			stream.ThinkingDelta(euro[2:])), []string{"d:" + euro, "t:" + euro}},
		{"broken sequence", deltas(euro[:2] + "x"), []string{"d:\uFFFD\uFFFDx"}},
		{"replacement char kept", deltas("\uFFFD"), []string{"d:\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, UTF8(&script{events: tt.events})), tt.want...)
		})
	}
}

func FuzzUTF8(f *testing.F) {
	f.Add("héllo wörld €😀", uint8(3))
	f.Add("\xff\xfe\xe2\x82", uint8(1))
	f.Fuzz(func(t *testing.T, text string, step uint8) {
		n := int(step%5) + 1
		var in []stream.Event
		for i := 0; i < len(text); i += n {
			in = append(in, stream.Delta(text[i:min(i+n, len(text))]))
		}
		var joined strings.Builder
		for _, ev := range run(t, UTF8(&script{events: in})) {
			d := strings.TrimPrefix(ev, "d:")
			if !utf8Valid(d) {
				t.Fatalf("invalid event %q", d)
			}
			joined.WriteString(d)
		}
		if want := replaceInvalid(text); utf8Valid(text) && joined.String() != want {
			t.Fatalf("joined %q, want %q", joined.String(), want)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestThinkSplit(t *testing.T) {
	tests := []struct {
		name   string
		tags   ThinkTags
		events []stream.Event
		want   []string
	}{
		{"one token each", ThinkTags{}, deltas("<think>", "hmm", "</think>", "Hi"), []string{"t:hmm", "d:Hi"}},
		{"inline", ThinkTags{}, deltas("<think>a</think>b"), []string{"t:a", "d:b"}},
		{"tags cut across tokens", ThinkTags{}, deltas("<thi", "nk>ab", "c</", "thin", "k>d"),
			[]string{"t:ab", "t:c", "d:d"}},
		{"text before", ThinkTags{}, deltas("x<think>y</think>z"), []string{"d:x", "t:y", "d:z"}},
		{"lookalike flushed", ThinkTags{}, deltas("a<th", "at"), []string{"d:a", "d:<that"}},
		{"unfinished tag at end", ThinkTags{}, deltas("a<thi"), []string{"d:a", "d:<thi"}},
		{"unclosed thinking", ThinkTags{}, deltas("<think>abc"), []string{"t:abc"}},
		{"custom tags", ThinkTags{Open: "[R]", Close: "[/R]"}, deltas("[R]x[", "/R]y"), []string{"t:x", "d:y"}},
		{"thinking channel untouched", ThinkTags{}, evs(stream.ThinkingDelta("<think>"), stream.Delta("a")),
			[]string{"t:<think>", "d:a"}},
		{"flush before finish", ThinkTags{}, evs(stream.Delta("a<"), stream.Finished(stream.FinishStop)),
			[]string{"d:a", "d:<", "finish:stop"}},
		{"twice", ThinkTags{}, deltas("<think>a</think>b<think>c</think>d"), []string{"t:a", "d:b", "t:c", "d:d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, ThinkSplit(&script{events: tt.events}, tt.tags)), tt.want...)
		})
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		limits  stream.Timeouts
		events  []stream.Event
		pause   time.Duration // the reader's pause after the first event
		want    []string
		elapsed time.Duration // virtual time until the end
	}{
		{"first token", stream.Timeouts{FirstToken: 2 * time.Second}, nil, 0,
			[]string{"error:timeout:first-token timeout: no token within 2s", "finish:error"}, 2 * time.Second},
		{"idle", stream.Timeouts{Idle: 500 * time.Millisecond}, deltas("a"), 0,
			[]string{"d:a", "error:timeout:idle timeout: no token for 500ms", "finish:error"}, 500 * time.Millisecond},
		{"idle not counting the reader's pause", stream.Timeouts{Idle: 500 * time.Millisecond}, deltas("a"), time.Hour,
			[]string{"d:a", "error:timeout:idle timeout: no token for 500ms", "finish:error"}, time.Hour + 500*time.Millisecond},
		{"total", stream.Timeouts{Total: 10 * time.Second, FirstToken: 20 * time.Second}, deltas("a"), 0,
			[]string{"d:a", "error:timeout:total timeout: the stream exceeded 10s", "finish:error"}, 10 * time.Second},
		{"total fires while the reader pauses", stream.Timeouts{Total: 10 * time.Second}, deltas("a", "b"), time.Minute,
			[]string{"d:a", "error:timeout:total timeout: the stream exceeded 10s", "finish:error"}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &script{events: tt.events, hang: true}
				start := time.Now()
				s, err := Timeouts(p, tt.limits).Stream(context.Background(), &stream.Request{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var got []string
				if len(tt.events) > 0 {
					ev, _ := s.Recv()
					got = append(got, show(ev))
					time.Sleep(tt.pause)
				}
				got = append(got, drain(t, s)...)
				check(t, got, tt.want...)
				if d := time.Since(start); d != tt.elapsed {
					t.Errorf("ended after %v of virtual time, want %v", d, tt.elapsed)
				}
				if err, _ := p.ctxErr.Load().(error); err == nil && p.closed.Load() == 0 {
					t.Error("the upstream did not see the cancellation")
				}
			})
		})
	}
}

func TestTimeoutsBeforeStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var upstream error
		hang := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
			<-ctx.Done() // headers never come
			upstream = ctx.Err()
			return nil, ctx.Err()
		})
		_, err := Timeouts(hang, stream.Timeouts{FirstToken: time.Second}).Stream(context.Background(), &stream.Request{})
		var e *stream.Error
		if !errors.As(err, &e) || e.Code != stream.CodeTimeout || e.Message != "first-token timeout: no token within 1s" {
			t.Fatalf("err = %v", err)
		}
		if upstream != context.Canceled {
			t.Fatalf("upstream saw %v", upstream)
		}
	})
}

func TestTimeoutsNotFiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &script{events: cat(deltas("a", "b"), evs(stream.Finished(stream.FinishStop)))}
		check(t, run(t, Timeouts(p, stream.Timeouts{FirstToken: time.Second, Idle: time.Second, Total: time.Second})),
			"d:a", "d:b", "finish:stop")
		time.Sleep(time.Minute) // timers were stopped: nothing fires later
	})
}

// counting produces numbered deltas for ever.
type counting struct{ produced atomic.Int64 }

func (c *counting) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return stream.Go(ctx, 1, func(ctx context.Context, emit func(stream.Event) bool) error {
		for {
			if !emit(stream.Delta("x")) {
				return nil
			}
			c.produced.Add(1)
		}
	}), nil
}

func TestBuffer(t *testing.T) {
	for _, size := range []int{1, 8, 0} {
		synctest.Test(t, func(t *testing.T) {
			c := &counting{}
			s, err := Buffer(c, size).Stream(context.Background(), &stream.Request{})
			if err != nil {
				t.Fatal(err)
			}
			want := size
			if want == 0 {
				want = DefaultBufferSize
			}
			synctest.Wait() // the producer is stalled: nobody reads
			// The buffer, one event in the Buffer goroutine's hand, the
			// producer's own 1-slot pipe and the one it holds.
			if got := c.produced.Load(); got > int64(want+3) || got < int64(want) {
				t.Fatalf("size %d: produced %d events for a reader that reads nothing", want, got)
			}
			for range 10 {
				s.Recv()
			}
			synctest.Wait()
			if got := c.produced.Load(); got > int64(want+13) {
				t.Fatalf("size %d: produced %d after 10 reads", want, got)
			}
			s.Close() // must end the producer: goleak checks
		})
	}
}

func TestBufferCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &script{events: deltas("a"), hang: true}
		ctx, cancel := context.WithCancel(context.Background())
		s, _ := Normalize(Buffer(p, 4)).Stream(ctx, &stream.Request{})
		defer s.Close()
		ev, _ := s.Recv()
		cancel()
		check(t, append([]string{show(ev)}, drain(t, s)...), "d:a", "finish:cancelled")
	})
}

func TestApply(t *testing.T) {
	think := DefaultThinkTags
	tests := []struct {
		name   string
		o      Options
		events []stream.Event
		want   []string
	}{
		{"stop beats max tokens", Options{Stop: []string{"!"}, MaxTokens: 3},
			deltas("a", "b!", "c", "d"), []string{"d:a", "d:b", "finish:stop(!)"}},
		{"max tokens", Options{Stop: []string{"!"}, MaxTokens: 2},
			deltas("a", "b", "c!"), []string{"d:a", "d:b", "finish:length"}},
		{"think then stop only on output", Options{Stop: []string{"ok"}, Think: &think},
			deltas("<think>", "ok?", "</think>", "fine", " ok", " then"), []string{"t:ok?", "d:fine", "d: ", "finish:stop(ok)"}},
		{"split rune before stop", Options{Stop: []string{"€!"}},
			deltas("a", "€"[:1], "€"[1:], "!"), []string{"d:a", "finish:stop(€!)"}},
		{"raw error shaped", Options{}, cat(deltas("a"), evs(stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "x")))),
			[]string{"d:a", "error:upstream_error:x", "finish:error"}},
		{"no buffer", Options{BufferSize: -1}, deltas("a"), []string{"d:a", "finish:stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, Apply(&script{events: tt.events}, tt.o)), tt.want...)
		})
	}
}

func TestFromRequest(t *testing.T) {
	req := &stream.Request{Sampling: stream.Sampling{MaxTokens: 7, Stop: []string{"x"}}, Timeouts: stream.Timeouts{Idle: time.Second}}
	o := FromRequest(req, 9)
	if o.MaxTokens != 7 || len(o.Stop) != 1 || o.Timeouts.Idle != time.Second || o.BufferSize != 9 {
		t.Fatalf("%+v", o)
	}
}

// A request's buffer_size replaces the server's buffer, up to
// stream.MaxBufferSize.
func TestFromRequestBuffer(t *testing.T) {
	for _, tc := range []struct{ asked, server, want int }{
		{0, 64, 64}, {8, 64, 8}, {1000, 64, 1000}, {stream.MaxBufferSize + 1, 64, stream.MaxBufferSize}, {5, -1, 5},
	} {
		if got := FromRequest(&stream.Request{BufferSize: tc.asked}, tc.server).BufferSize; got != tc.want {
			t.Errorf("asked %d, server %d: buffer %d, want %d", tc.asked, tc.server, got, tc.want)
		}
	}
}

// FuzzUTF8Fast holds take's fast path (an ASCII delta with nothing
// carried) to the general path: the same events from any sequence of
// deltas on both channels, with and without logprobs, and other events.
func FuzzUTF8Fast(f *testing.F) {
	f.Add([]byte("ab\xe2\x82\xacc"), []byte{0, 1, 2, 3, 4, 5})
	f.Add([]byte("h\xc3\xa9llo"), []byte{9, 17, 2, 40, 3})
	f.Fuzz(func(t *testing.T, text, ops []byte) {
		var in []stream.Event
		for i, op := range ops {
			n := int(op>>4) % 4
			piece := text[:min(n, len(text))]
			text = text[len(piece):]
			var ev stream.Event
			switch op % 4 {
			case 0:
				ev = stream.Delta(string(piece))
			case 1:
				ev = stream.ThinkingDelta(string(piece))
			case 2:
				ev = lpDelta(string(piece), strconv.Itoa(i))
			default:
				ev = stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Arguments: "x"}}
			}
			in = append(in, ev)
		}
		in = append(in, stream.Finished(stream.FinishStop))
		render := func(take func(*utf8Stream, stream.Event, error) (stream.Event, bool)) []string {
			u := &utf8Stream{}
			var out []string
			for i := 0; ; {
				if u.q.pending() {
					ev, err, _ := u.q.pop()
					if err != nil {
						return out
					}
					out = append(out, show(ev)+"="+string(ev.Logprobs()))
					continue
				}
				var ev stream.Event
				var err error = io.EOF
				if i < len(in) {
					ev, err = in[i], nil
					i++
				}
				if ev, ok := take(u, ev, err); ok {
					out = append(out, show(ev)+"="+string(ev.Logprobs()))
				}
			}
		}
		fast := render((*utf8Stream).take)
		general := render((*utf8Stream).general)
		if !slices.Equal(fast, general) {
			t.Fatalf("fast path %q\ngeneral    %q", fast, general)
		}
	})
}

// closeOnce is a stream of one delta whose Close notes a Close that
// begins while another is under way, and holds each until release.
type closeOnce struct {
	sent             bool
	inside, calls    atomic.Int32
	overlap          atomic.Bool
	entered, release chan struct{}
}

func (c *closeOnce) Recv() (stream.Event, error) {
	if !c.sent {
		c.sent = true
		return stream.Delta("a"), nil
	}
	return stream.Event{}, io.EOF
}

func (c *closeOnce) Close() error {
	if c.inside.Add(1) > 1 {
		c.overlap.Store(true)
	}
	if c.calls.Add(1) == 1 {
		close(c.entered)
	}
	<-c.release
	c.inside.Add(-1)
	return nil
}

// The buffer's goroutine closes its inner stream as the stream ends; a
// context ending then must not close it a second time alongside (a
// Stream's Close is not safe against itself).
func TestBufferClosesInnerOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := &closeOnce{entered: make(chan struct{}), release: make(chan struct{})}
		p := stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) { return in, nil })
		ctx, cancel := context.WithCancel(context.Background())
		s, err := Buffer(p, 4).Stream(ctx, &stream.Request{})
		if err != nil {
			t.Fatal(err)
		}
		<-in.entered // the goroutine met the end and is closing in
		cancel()
		synctest.Wait()
		close(in.release)
		s.Close()
		if in.overlap.Load() {
			t.Fatal("the inner stream's Close ran twice at once")
		}
		if n := in.calls.Load(); n != 1 {
			t.Fatalf("inner Close called %d times, want 1", n)
		}
	})
}
