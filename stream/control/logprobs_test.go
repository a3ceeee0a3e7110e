package control

import (
	"context"
	"io"
	"testing"

	"github.com/runnel/runnel/stream"
)

// lpDelta is an output delta carrying logprobs {"content":[n]}.
func lpDelta(text, n string) stream.Event {
	ev := stream.Delta(text)
	ev.SetLogprobs(stream.Logprobs(`{"content":[` + n + `]}`))
	return ev
}

// logprobsOf renders each delta as text=logprobs.
func logprobsOf(t *testing.T, p stream.Provider) []string {
	t.Helper()
	s, err := p.Stream(context.Background(), &stream.Request{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []string
	for {
		ev, err := s.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == stream.KindDelta {
			out = append(out, ev.Text+"="+string(ev.Logprobs()))
		}
	}
}

// Controls that hold text back pass its logprobs on with the text that
// finally goes out, so no token's logprobs are lost.
func TestLogprobsFollowHeldText(t *testing.T) {
	t.Run("stop tail that was not a stop", func(t *testing.T) {
		p := &script{events: evs(lpDelta("a", "1"), lpDelta("E", "2"), lpDelta("N", "3"), lpDelta("x", "4"), stream.Finished(stream.FinishStop))}
		check(t, logprobsOf(t, Stop(p, "END")), `a={"content":[1]}`, `ENx={"content":[2,3,4]}`)
	})
	t.Run("stop tail flushed at the end", func(t *testing.T) {
		p := &script{events: evs(lpDelta("a", "1"), lpDelta("E", "2"), stream.Finished(stream.FinishStop))}
		check(t, logprobsOf(t, Stop(p, "END")), `a={"content":[1]}`, `E={"content":[2]}`)
	})
	t.Run("text before a stop keeps the held logprobs", func(t *testing.T) {
		p := &script{events: evs(lpDelta("aE", "1"), lpDelta("ND", "2"), stream.Finished(stream.FinishStop))}
		check(t, logprobsOf(t, Stop(p, "END")), `a={"content":[1]}`)
	})
	t.Run("utf8 carry", func(t *testing.T) {
		p := &script{events: evs(lpDelta("\xc3", "1"), lpDelta("\xa9!", "2"), lpDelta("\xe2", "3"), stream.Finished(stream.FinishStop))}
		check(t, logprobsOf(t, UTF8(p)), `é!={"content":[1,2]}`, "\ufffd"+`={"content":[3]}`)
	})
	t.Run("plain deltas stay nil", func(t *testing.T) {
		p := &script{events: cat(deltas("a", "E", "b"), evs(stream.Finished(stream.FinishStop)))}
		check(t, logprobsOf(t, UTF8(Stop(p, "END"))), "a=", "Eb=")
	})
}
