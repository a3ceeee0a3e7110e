package mock

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// events reads a mock stream to its end, one string per event.
func events(t *testing.T, p *Provider, req *stream.Request) []string {
	t.Helper()
	s, err := p.Stream(context.Background(), req)
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
		switch ev.Kind {
		case stream.KindDelta:
			out = append(out, fmt.Sprintf("%s:%s", ev.Channel, ev.Text))
		case stream.KindUsage:
			out = append(out, fmt.Sprintf("usage:%+v", *ev.Usage))
		case stream.KindFinish:
			out = append(out, "finish:"+string(ev.Finish))
		default:
			out = append(out, fmt.Sprint(ev.Kind))
		}
	}
}

// Continued from any point of its answer, the mock sends exactly the rest
// of the uninterrupted answer, and the usage of the whole.
func TestContinueFromPrefix(t *testing.T) {
	p := New(Options{})
	for _, model := range []string{"default?tokens=40&text=one+two,+three.", "default?think=3&tokens=7", "default?tokens=5&tool=f", "default?tokens=9&usage=0"} {
		t.Run(model, func(t *testing.T) {
			req := &stream.Request{Model: model, Messages: []stream.Message{{Role: "user", Content: "say it"}}}
			whole := events(t, p, req)
			var prefix strings.Builder
			for k, ev := range whole {
				text, isOut := strings.CutPrefix(ev, string(stream.Output)+":")
				if !strings.HasPrefix(ev, string(stream.Output)+":") && !strings.HasPrefix(ev, string(stream.Thinking)+":") {
					break
				}
				cont := req.Clone()
				if prefix.Len() > 0 || isOut {
					cont.Messages = append(cont.Messages, stream.Message{Role: "assistant", Content: prefix.String()})
				}
				if isOut {
					got := events(t, p, cont)
					if want := whole[k:]; fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("continued after %q:\n%q\nwant\n%q", prefix.String(), got, want)
					}
					prefix.WriteString(text)
				}
			}
			if prefix.Len() == 0 {
				t.Fatal("no output to continue")
			}
		})
	}
}
