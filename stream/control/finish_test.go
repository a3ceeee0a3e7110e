package control

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/runnel/runnel/stream"
)

// gen is a provider that generates its tokens one per Recv and can be
// finished: after Finish it sends no more tokens, then the usage of what it
// generated and the reason asked for. It counts what it generated, which is
// the truth the usage must match.
type gen struct {
	tokens    []string
	generated atomic.Int64
	closed    atomic.Int32
}

func (p *gen) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return &genStream{p: p}, nil
}

type genStream struct {
	p        *gen
	fin      stream.FinishRequest
	sent     int
	state    int // 0 content, 1 usage sent, 2 finish sent
	stopping stream.FinishReason
}

func (s *genStream) Recv() (stream.Event, error) {
	if r, ok := s.fin.Requested(); ok && s.state == 0 && s.sent < len(s.p.tokens) {
		s.stopping = r // content was left: Finish applies
	}
	if s.state == 0 && s.stopping == "" && s.sent < len(s.p.tokens) {
		s.sent++
		s.p.generated.Add(1)
		return stream.Delta(s.p.tokens[s.sent-1]), nil
	}
	switch s.state {
	case 0:
		s.state = 1
		return stream.UsageEvent(stream.Usage{PromptTokens: 2, CompletionTokens: s.sent}), nil
	case 1:
		s.state = 2
		if s.stopping == "" {
			return stream.Finished(stream.FinishStop), nil
		}
		return stream.Finished(s.stopping), nil
	}
	return stream.Event{}, io.EOF
}

func (s *genStream) Finish(r stream.FinishReason) bool { s.fin.Set(r); return true }
func (s *genStream) Close() error                      { s.p.closed.Add(1); return nil }

func words(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = " w" + string(rune('a'+i%26))
	}
	return out
}

func TestStopFinishes(t *testing.T) {
	for _, buffer := range []int{-1, 1, DefaultBufferSize} {
		p := &gen{tokens: []string{"Hello", " wor", "ld", " ST", "OP", "PED", " more", " text", " and", " more"}}
		s, err := Apply(p, Options{Stop: []string{"STOP"}, BufferSize: buffer}).Stream(context.Background(), &stream.Request{})
		if err != nil {
			t.Fatal(err)
		}
		r := stream.Collect(s)
		gotGen := int(p.generated.Load())
		if r.Text != "Hello world " || r.Finish != stream.FinishStop || r.StopSequence != "STOP" || r.Err != nil {
			t.Fatalf("buffer %d: text %q finish %s (%q) err %v", buffer, r.Text, r.Finish, r.StopSequence, r.Err)
		}
		// The usage is the provider's own, and counts the tokens that
		// formed the stop: they were generated.
		if r.Usage == nil || r.Usage.Estimated || r.Usage.CompletionTokens != gotGen || r.Usage.PromptTokens != 2 {
			t.Fatalf("buffer %d: usage %+v, generated %d", buffer, r.Usage, gotGen)
		}
		if buffer < 0 && gotGen != 5 { // unbuffered: nothing past the stop's last token
			t.Fatalf("unbuffered: generated %d tokens, want 5", gotGen)
		}
		if p.closed.Load() != 1 {
			t.Fatalf("buffer %d: inner closed %d times", buffer, p.closed.Load())
		}
	}
}

func TestStopFinishDropsTrailingEvents(t *testing.T) {
	// A provider that had already produced content, a tool call and an
	// error past the stop: only its usage and a stop finish come through.
	p := &finishingScript{script: script{events: evs(
		stream.Delta("aSTOPb"), stream.Delta("c"),
		stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Name: "f"}},
		stream.UsageEvent(stream.Usage{PromptTokens: 1, CompletionTokens: 7}),
		stream.Finished(stream.FinishLength),
	)}}
	check(t, run(t, Stop(p, "STOP")), "d:a", "usage:1/7", "finish:stop(STOP)")
	if p.asked.Load() != 1 {
		t.Fatalf("Finish asked %d times", p.asked.Load())
	}
}

// finishingScript is a script whose streams accept Finish and ignore it
// (everything was already produced), for the events after a stop.
type finishingScript struct {
	script
	asked atomic.Int32
}

func (p *finishingScript) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	s, _ := p.script.Stream(ctx, req)
	return &finishingScriptStream{s, p}, nil
}

type finishingScriptStream struct {
	stream.Stream
	p *finishingScript
}

func (s *finishingScriptStream) Finish(r stream.FinishReason) bool { s.p.asked.Add(1); return true }

func TestMaxTokensFinishes(t *testing.T) {
	for _, buffer := range []int{-1, 1, DefaultBufferSize} {
		p := &gen{tokens: words(20)}
		s, err := Apply(p, Options{MaxTokens: 3, BufferSize: buffer}).Stream(context.Background(), &stream.Request{})
		if err != nil {
			t.Fatal(err)
		}
		r := stream.Collect(s)
		gotGen := int(p.generated.Load())
		if r.Text != strings.Join(words(3), "") || r.Finish != stream.FinishLength {
			t.Fatalf("buffer %d: text %q finish %s", buffer, r.Text, r.Finish)
		}
		if r.Usage == nil || r.Usage.Estimated || r.Usage.CompletionTokens != gotGen {
			t.Fatalf("buffer %d: usage %+v, generated %d", buffer, r.Usage, gotGen)
		}
		if buffer < 0 && gotGen != 3 {
			t.Fatalf("unbuffered: generated %d tokens, want 3", gotGen)
		}
	}
}

func TestMaxTokensExactKeepsOwnFinish(t *testing.T) {
	// The provider's content ends at the limit: its own finish stands.
	p := &gen{tokens: words(3)}
	check(t, run(t, MaxTokens(p, 3)), "d: wa", "d: wb", "d: wc", "usage:2/3", "finish:stop")
}

func TestFinishForwarded(t *testing.T) {
	all := Options{Stop: []string{"zz"}, MaxTokens: 5000, Timeouts: stream.Timeouts{Total: 1 << 40}, Think: &DefaultThinkTags}
	for _, buffer := range []int{-1, DefaultBufferSize} {
		o := all
		o.BufferSize = buffer
		// Supported at the bottom: every wrapper says so, and the
		// stream ends with the reason asked for.
		p := &gen{tokens: words(1000)} // more than the buffer runs ahead
		s, _ := Apply(p, o).Stream(context.Background(), &stream.Request{})
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		if !stream.Finish(s, stream.FinishCancelled) {
			t.Fatalf("buffer %d: Finish not forwarded", buffer)
		}
		r := stream.Collect(s)
		if r.Finish != stream.FinishCancelled || r.Usage == nil || r.Usage.CompletionTokens != int(p.generated.Load()) {
			t.Fatalf("buffer %d: finish %s usage %+v generated %d", buffer, r.Finish, r.Usage, p.generated.Load())
		}
		// Unsupported at the bottom: every wrapper says no.
		s, _ = Apply(&script{events: deltas("a", "b")}, o).Stream(context.Background(), &stream.Request{})
		if stream.Finish(s, stream.FinishStop) {
			t.Fatalf("buffer %d: Finish reported for a provider without it", buffer)
		}
		s.Close()
	}
}

func TestStopFallbackWithoutFinisher(t *testing.T) {
	// The script is no Finisher: the stop closes it, and no usage comes.
	p := &script{events: cat(deltas("ab", "STOP", "cd"), evs(stream.UsageEvent(stream.Usage{CompletionTokens: 3})))}
	s, _ := Apply(p, Options{Stop: []string{"STOP"}, BufferSize: -1}).Stream(context.Background(), &stream.Request{})
	check(t, drain(t, s), "d:ab", "finish:stop(STOP)")
	s.Close()
	if p.closed.Load() != 1 {
		t.Fatalf("inner closed %d times", p.closed.Load())
	}
}

func BenchmarkStopFinisher(b *testing.B) {
	// The per-token path with a Finisher underneath allocates nothing.
	b.ReportAllocs()
	toks := words(26)
	p := &gen{tokens: make([]string, b.N)}
	for i := range p.tokens {
		p.tokens[i] = toks[i%len(toks)]
	}
	s, _ := Apply(p, Options{Stop: []string{"</answer>"}, MaxTokens: 1 << 30, BufferSize: -1}).Stream(context.Background(), &stream.Request{})
	defer s.Close()
	b.ResetTimer()
	for {
		if _, err := s.Recv(); err != nil {
			break
		}
	}
}
