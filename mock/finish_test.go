package mock

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"

	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/stream/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFinish(t *testing.T) {
	// Prompt: 3 + 5 tokens. text=a b c d e f, 2 thinking tokens first.
	for _, tt := range []struct {
		model  string
		after  int // Recv calls before Finish
		reason stream.FinishReason
		want   []string
	}{
		{"x?text=a%20b%20c%20d%20e%20f", 2, stream.FinishStop, []string{"d:a", "d: b", "usage:8/2/0", "finish:stop"}},
		{"x?text=a%20b%20c&think=2", 3, stream.FinishLength, []string{"t:Let", "t: me", "d:a", "usage:8/3/2", "finish:length"}},
		{"x?text=a%20b&usage=0", 1, stream.FinishStop, []string{"d:a", "finish:stop"}},
		// Content all sent: the stream keeps its own end.
		{"x?text=a%20b", 2, stream.FinishLength, []string{"d:a", "d: b", "usage:8/2/0", "finish:stop"}},
		// A tool call once begun is sent whole, and ends the stream.
		{"x?text=a%20b&tool=f", 3, stream.FinishStop, []string{"d:a", "d: b", "tool:call_mock_0:f:", "tool:::{}", "usage:8/4/0", "finish:tool_calls"}},
		// Cut before the tool call.
		{"x?text=a%20b&tool=f", 2, stream.FinishStop, []string{"d:a", "d: b", "usage:8/2/0", "finish:stop"}},
	} {
		s, err := New(Options{}).Stream(context.Background(), chat(tt.model, 0))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for range tt.after {
			ev, _ := s.Recv()
			got = append(got, show(ev))
		}
		if !stream.Finish(s, tt.reason) {
			t.Fatal("the mock is a Finisher")
		}
		got = append(got, drain(s)...)
		if g, w := strings.Join(got, "|"), strings.Join(tt.want, "|"); g != w {
			t.Errorf("%s after %d: got %s, want %s", tt.model, tt.after, g, w)
		}
		s.Close()
	}
}

func TestFinishWakesWaits(t *testing.T) {
	// A Finish ends a delay or a hang at once, with the usage so far.
	for _, model := range []string{"x?hang=1", "x?hang_after=2&text=a%20b%20c", "x?ttft=1h", "x?itl=1h&text=a%20b%20c"} {
		t.Run(model, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, err := New(Options{}).Stream(context.Background(), chat(model, 0))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				got := make(chan []string)
				go func() { got <- drain(s) }()
				synctest.Wait()
				stream.Finish(s, stream.FinishCancelled)
				evs := <-got
				n := 0
				switch {
				case strings.Contains(model, "hang_after"):
					n = 2
				case strings.Contains(model, "itl"):
					n = 1
				}
				if len(evs) != n+2 || evs[n] != "usage:8/"+string(rune('0'+n))+"/0" || evs[n+1] != "finish:cancelled" {
					t.Fatalf("events %q, want %d tokens, usage, finish", evs, n)
				}
			})
		})
	}
}

// TestStopExactUsage: a stop sequence through the controls gets the mock's
// own, exact usage, counting the tokens up to the one that completed the
// stop, whatever the buffer.
func TestStopExactUsage(t *testing.T) {
	text := "One two three four five six seven eight nine ten"
	for _, buffer := range []int{-1, control.DefaultBufferSize} {
		p := control.Apply(New(Options{}), control.Options{Stop: []string{"ee fo"}, BufferSize: buffer})
		s, err := p.Stream(context.Background(), chat("x?itl=1us&text="+strings.ReplaceAll(text, " ", "%20"), 0))
		if err != nil {
			t.Fatal(err)
		}
		r := stream.Collect(s)
		if r.Text != "One two thr" || r.Finish != stream.FinishStop || r.Usage == nil || r.Usage.Estimated {
			t.Fatalf("buffer %d: %+v", buffer, r)
		}
		// Unbuffered, the mock generated exactly the 4 tokens that
		// reached the stop; a buffer lets it run ahead, and it counts
		// what it generated.
		if c := r.Usage.CompletionTokens; (buffer < 0 && c != 4) || c < 4 || c > 10 || r.Usage.PromptTokens != 8 {
			t.Fatalf("buffer %d: usage %+v", buffer, *r.Usage)
		}
	}
}

func TestMaxTokensControlExactUsage(t *testing.T) {
	// The mock enforces max_tokens itself; asked through the control
	// alone (a request without it), Finish gives the exact count.
	p := control.Apply(New(Options{}), control.Options{MaxTokens: 3, BufferSize: -1})
	s, err := p.Stream(context.Background(), chat("x?text=a%20b%20c%20d%20e", 0))
	if err != nil {
		t.Fatal(err)
	}
	r := stream.Collect(s)
	if r.Text != "a b c" || r.Finish != stream.FinishLength || r.Usage == nil ||
		*r.Usage != (stream.Usage{PromptTokens: 8, CompletionTokens: 3}) {
		t.Fatalf("%+v usage %+v", r, r.Usage)
	}
}
