package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// parseMode is how upstreamEvents has an upstreamStream parse chunks.
type parseMode int

const (
	parseShaped   parseMode = iota // shape, head, parseLite, encoding/json
	parseLiteOnly                  // parseLite from the start, then encoding/json
	parseJSON                      // encoding/json alone: the general path
)

func (m parseMode) String() string {
	return [...]string{"shape and head", "in full", "with encoding/json"}[m]
}

// upstreamEvents is what an upstreamStream makes of an SSE body, each
// event as a line; split reads it a byte at a time.
func upstreamEvents(body string, mode parseMode, split bool) []string {
	var r io.Reader = strings.NewReader(body)
	if split {
		r = iotest.OneByteReader(r)
	}
	s := &upstreamStream{ctx: context.Background(), body: io.NopCloser(r), events: sse.NewReader(r)}
	s.shape.off = mode != parseShaped
	s.shape.json = mode == parseJSON
	var out []string
	for {
		ev, err := s.Recv()
		if err != nil {
			return out
		}
		out = append(out, eventLine(ev))
	}
}

// tokenEvents is upstreamEvents with the shape, each read through the
// token path (RecvToken, then Recv when it takes nothing) where a bit of
// use says so, the first bit for the first read and so on (all of them
// once use is used up); t fails on a token RecvToken may not return.
func tokenEvents(t *testing.T, body string, split bool, use []byte) []string {
	var r io.Reader = strings.NewReader(body)
	if split {
		r = iotest.OneByteReader(r)
	}
	s := &upstreamStream{ctx: context.Background(), body: io.NopCloser(r), events: sse.NewReader(r)}
	var out []string
	for i := 0; ; i++ {
		if i/8 >= len(use) || use[i/8]&(1<<(i%8)) != 0 {
			if text, ok := s.RecvToken(); ok {
				if text == "" || strings.IndexFunc(text, func(r rune) bool { return r >= 0x80 }) >= 0 {
					t.Fatalf("RecvToken %q: not a token's text", text)
				}
				out = append(out, eventLine(stream.Delta(text)))
				continue
			}
		}
		ev, err := s.Recv()
		if err != nil {
			return out
		}
		out = append(out, eventLine(ev))
	}
}

// eventLine is how upstreamEvents writes an event.
func eventLine(ev stream.Event) string {
	u, e, tc := "", "", ""
	if ev.Usage != nil {
		u = fmt.Sprint(*ev.Usage)
	}
	if ev.Err != nil {
		e = ev.Err.Message
	}
	if ev.ToolCall != nil {
		tc = fmt.Sprint(*ev.ToolCall)
	}
	return fmt.Sprintf("%s %s %q %q %q %s %s %s", ev.Kind, ev.Channel, ev.Text, ev.Logprobs(), ev.Finish, u, e, tc)
}

// mockHead is the head of every chunk of the mock upstream's streams.
const mockHead = `{"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1796579426,"model":"default","choices":`

// unusualChunks follow a stream's usual chunks: each must still become
// what encoding/json makes of it, whichever path takes it.
var unusualChunks = []string{
	// another id, and an extra field, before and after the choices
	`{"id":"chatcmpl-mock-2","object":"chat.completion.chunk","created":1796579426,"model":"default","choices":[{"index":0,"delta":{"content":" id"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1796579426,"model":"default","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":" fp"},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{"content":" after"},"logprobs":null,"finish_reason":null}],"obfuscation":"x"}`,
	// the head's bytes, then what parseLite leaves to encoding/json
	mockHead + `[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{"content":" lp"},"logprobs":{"content":[{"token":" lp","logprob":-0.5}]},"finish_reason":null}]}`,
	mockHead + `[{"index":1,"delta":{"content":" second"},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{"content":"a","content":"b"},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{"Content":"folded"},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{"content":"x"}}],"choices":[]}`,
	mockHead + `[{"index":0,"delta":{"content":"bad\x"}}]}`,
	// escaped and non-ASCII text, reasoning, null content
	mockHead + `[{"index":0,"delta":{"content":"\n\"q\" \u00e9 é \ud83d\ude00"},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{"reasoning_content":"hm","content":"x"},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{"content":null},"logprobs":null,"finish_reason":null}]}`,
	// a head that differs by whitespace only
	`{"id":"chatcmpl-mock-1", "object":"chat.completion.chunk","created":1796579426,"model":"default","choices":[{"index":0,"delta":{"content":" ws"},"logprobs":null,"finish_reason":null}]}`,
	// usage before the choices: no head
	`{"id":"chatcmpl-mock-1","usage":null,"choices":[{"index":0,"delta":{"content":" u"},"logprobs":null,"finish_reason":null}]}`,
	mockHead + `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}`,
	mockHead + `[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":1}}}`,
}

// mockStream is an SSE body of the mock's usual chunks around extra.
func mockStream(extra ...string) string {
	var b strings.Builder
	chunk := func(data string) { b.WriteString("data: " + data + "\n\n") }
	chunk(mockHead + `[{"index":0,"delta":{"role":"assistant","content":"Runnel"},"logprobs":null,"finish_reason":null}]}`)
	chunk(mockHead + `[{"index":0,"delta":{"content":" streams"},"logprobs":null,"finish_reason":null}]}`)
	chunk(mockHead + `[{"index":0,"delta":{"content":" every"},"logprobs":null,"finish_reason":null}]}`)
	for _, c := range extra {
		chunk(c)
	}
	chunk(mockHead + `[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}`)
	chunk(mockHead + `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`)
	chunk(mockHead + `[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}`)
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

// TestUpstreamUnusualChunks: each unusual chunk in the middle of a usual
// stream, whole or read a byte at a time, gives the events encoding/json
// gives, through the shape and head or not.
func TestUpstreamUnusualChunks(t *testing.T) {
	for i, c := range append([]string{""}, unusualChunks...) {
		var extra []string
		if c != "" {
			extra = []string{c, c}
		}
		body := mockStream(extra...)
		want := upstreamEvents(body, parseJSON, false)
		if len(want) < 5 {
			t.Fatalf("chunk %d: only %q", i, want)
		}
		for _, mode := range []parseMode{parseShaped, parseLiteOnly} {
			for _, split := range []bool{false, true} {
				if got := upstreamEvents(body, mode, split); !slices.Equal(got, want) {
					t.Errorf("%s (%s, split %v):\n got %q\nwant %q", c, mode, split, got, want)
				}
			}
		}
		for _, split := range []bool{false, true} {
			if got := tokenEvents(t, body, split, nil); !slices.Equal(got, want) {
				t.Errorf("%s (token path, split %v):\n got %q\nwant %q", c, split, got, want)
			}
		}
	}
}

// TestChunkHead: after a stream's first chunk, the chunks that begin with
// its head (the next shape, the finish, the usage) are parsed from the
// head's end, to what a parse from the start gives; the others are
// parsed from the start, and record their own head.
func TestChunkHead(t *testing.T) {
	var sh chunkShape
	first := []byte(mockHead + `[{"index":0,"delta":{"role":"assistant","content":"Runnel"},"logprobs":null,"finish_reason":null}]}`)
	if _, ok := parseLiteBytes(first, &sh); !ok || string(sh.head) != mockHead {
		t.Fatalf("head %q, want %q", sh.head, mockHead)
	}
	for _, data := range unusualChunks {
		before := string(sh.head)
		c, ok := parseLiteFull([]byte(data), &sh)
		want, wok := parseLite(data)
		if ok != wok || ok && c != want {
			t.Errorf("%s: after the head %+v %v, from the start %+v %v", data, c, ok, want, wok)
		}
		_, _, head, _ := parseLiteAt(data)
		switch {
		case before != "" && strings.HasPrefix(data, before) && string(sh.head) != before:
			t.Errorf("%s: the head became %q", data, sh.head)
		case !strings.HasPrefix(data, before) && wok && (head < 0) != (len(sh.head) == 0):
			t.Errorf("%s: head %d recorded as %q", data, head, sh.head)
		}
	}
}

// FuzzChunkHead checks the head's path against a parse from the start:
// after any first chunk, any chunk parses to the same fields, and to what
// it parses to alone.
func FuzzChunkHead(f *testing.F) {
	for _, c := range unusualChunks {
		f.Add(mockHead+`[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}]}`, c)
	}
	for _, s := range liteSeeds {
		f.Add(liteSeeds[0], s)
		f.Add(s, liteSeeds[4])
	}
	f.Fuzz(func(t *testing.T, first, next string) {
		var sh chunkShape
		parseLiteFull([]byte(first), &sh)
		buf := []byte(next)
		c, ok := parseLiteFull(buf, &sh)
		want, wok := parseLite(next)
		if ok != wok || ok && c != want {
			t.Fatalf("after %q, %q: %+v %v; alone %+v %v", first, next, c, ok, want, wok)
		}
		for i := range buf {
			buf[i] = 'X'
		}
		if ok && c != want {
			t.Fatalf("%q: %+v after the buffer was reused, want %+v", next, c, want)
		}
		if ok && !bytes.HasPrefix([]byte(next), sh.head) {
			t.Fatalf("%q parsed, but the head %q is not its own", next, sh.head)
		}
	})
}

// TestUpstreamStreamOfTheMock: the mock's stream parses to its tokens,
// usage and finish on every path.
func TestUpstreamStreamOfTheMock(t *testing.T) {
	want := []string{
		`delta output "Runnel" "" ""   `, `delta output " streams" "" ""   `, `delta output " every" "" ""   `,
		`delta output " token" "" ""   `, `usage  "" "" "" {5 4 0 false 0s 0s}  `, `finish  "" "" "stop"   `,
	}
	for _, mode := range []parseMode{parseShaped, parseLiteOnly, parseJSON} {
		if got := upstreamEvents(mockStream(), mode, false); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", mode, got, want)
		}
	}
}
