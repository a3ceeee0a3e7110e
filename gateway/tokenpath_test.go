package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// FuzzTokenPath holds a call's token path (Call.TokenStream: the
// meter's, over the controls', over a provider's) to Recv alone: the
// same events, the same record (text, usage, finish, status, cost) and
// the same timings handed to the Observer, from any script of deltas
// (ASCII or not, either channel, empty), tool calls, usages, finishes
// and errors, with or without max_tokens, whichever reads take the token
// path.
func FuzzTokenPath(f *testing.F) {
	// An op is a kind (op%8) and a piece of 0-3 bytes (op>>4%4).
	f.Add([]byte("hello world"), []byte{0, 16, 32, 48, 48, 5, 6}, uint8(0x55))
	f.Add([]byte("h\xc3\xa9llo"), []byte{3, 16, 32, 17, 48, 16, 7}, uint8(0xff))
	f.Add([]byte("abcdefgh"), []byte{2, 16, 16, 16, 16, 6}, uint8(0))
	// An answer longer than the meter's first room for it (64 bytes),
	// which grows out of its token path's line.
	f.Add([]byte(strings.Repeat("abc", 40)), append(append([]byte{0}, bytes.Repeat([]byte{48}, 40)...), 5), uint8(0xff))
	f.Fuzz(func(t *testing.T, text, ops []byte, use uint8) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		max := 0
		if len(ops) > 0 {
			max, ops = int(ops[0]%5), ops[1:]
		}
		var script []stream.Event
		for i, op := range ops {
			n := int(op>>4) % 4
			piece := string(text[:min(n, len(text))])
			text = text[len(piece):]
			switch op % 8 {
			case 0, 1:
				script = append(script, stream.Delta(piece))
			case 2:
				script = append(script, stream.ThinkingDelta(piece))
			case 3:
				script = append(script, stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Name: "f", Arguments: piece}})
			case 4:
				script = append(script, stream.UsageEvent(stream.Usage{PromptTokens: i, CompletionTokens: n}))
			case 5:
				script = append(script, stream.Finished(stream.FinishStop))
			case 6:
				script = append(script, stream.Finished(stream.FinishLength))
			default:
				script = append(script, stream.ErrorEvent(stream.Errorf(stream.CodeUpstream, "e%d", i)))
			}
		}
		want, wantRec, wantTimes := tokenPathCall(t, script, max, false, 0, false)
		for _, u := range []uint8{0xff, use} {
			// With timeouts (that never fire) too: their layer has a
			// token path of its own.
			for _, timeouts := range []bool{false, true} {
				got, rec, times := tokenPathCall(t, script, max, true, u, timeouts)
				if !slices.Equal(got, want) || rec != wantRec || times != wantTimes {
					t.Fatalf("through the token path (%#x, timeouts %v):\n%q\n%s\n%s\nwant\n%q\n%s\n%s", u, timeouts, got, rec, times, want, wantRec, wantTimes)
				}
			}
		}
	})
}

// tokenPathCall runs a call over a provider of script with a token path
// (with timeouts) and reads it (through the call's token path, when tokens, for the reads
// whose bit in use is set, the ninth read on as the first): its events,
// its record and what the Observer was told, as text.
func tokenPathCall(t *testing.T, script []stream.Event, max int, tokens bool, use uint8, timeouts bool) ([]string, string, string) {
	r := newRig(gateway.Prices{"s/m": {InputPerMillion: 1e6, OutputPerMillion: 2e6}}, func(o *gateway.Options) {
		router := gateway.NewStaticRouter()
		router.Register("s", tokenScript(script))
		o.Router = router
		if timeouts {
			o.Timeouts = stream.Timeouts{FirstToken: time.Hour, Idle: time.Hour, Total: time.Hour}
		}
	})
	req := chat("s/m")
	req.Sampling.MaxTokens = max
	c, err := r.gw.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts := c.TokenStream()
	if ts == nil {
		t.Fatal("no token path")
	}
	var out []string
	for i := 0; ; i++ {
		if tokens && use&(1<<(i%8)) != 0 {
			if text, ok := ts.RecvToken(); ok {
				out = append(out, show(stream.Delta(text)))
				continue
			}
		}
		ev, err := c.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, show(ev))
	}
	rec := r.acc.only(t)
	record := fmt.Sprintf("%q %q %s %s %+v %+v %v %v ttft>0:%v", rec.Output, rec.Thinking, rec.Finish, rec.Status, rec.Usage, rec.Cost, rec.ToolCalls, rec.Err, rec.TTFT > 0)
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	return out, record, fmt.Sprintf("first %d gaps %d", r.obs.first, r.obs.gaps)
}

// tokenScript is a provider of script whose streams have a token path,
// as an upstream's do: RecvToken takes the next event when it is a
// token's (output, ASCII, no logprobs), else holds it for Recv.
type tokenScript []stream.Event

func (p tokenScript) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return &tokenScriptStream{events: p}, nil
}

type tokenScriptStream struct {
	events []stream.Event
	held   bool
	// buf holds the last token's text, as a read buffer does: it is
	// written over on the next call, so that a layer that kept the text
	// without a copy shows in the record.
	buf []byte
}

func (s *tokenScriptStream) RecvToken() (string, bool) {
	s.scribble()
	if s.held || len(s.events) == 0 {
		return "", false
	}
	if ev := s.events[0]; ev.Kind == stream.KindDelta && ev.Channel == stream.Output && ev.Text != "" && isASCII(ev.Text) && ev.Logprobs() == "" {
		s.events = s.events[1:]
		s.buf = append(s.buf[:0], ev.Text...)
		return unsafe.String(unsafe.SliceData(s.buf), len(s.buf)), true
	}
	s.held = true // read: Recv's now
	return "", false
}

func (s *tokenScriptStream) scribble() {
	for i := range s.buf {
		s.buf[i] = '#'
	}
}

func (s *tokenScriptStream) Recv() (stream.Event, error) {
	s.scribble()
	s.held = false
	if len(s.events) == 0 {
		return stream.Event{}, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *tokenScriptStream) Close() error { return nil }

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
