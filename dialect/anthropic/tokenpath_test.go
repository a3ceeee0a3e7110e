package anthropic

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// tokenPathBody is a streamed answer whose text deltas carry texts a and
// b (as JSON strings) and raw (a JSON value as it is), with extra, any
// event's data, among them.
func tokenPathBody(a, b, raw, extra string) string {
	str := func(s string) string { j, _ := json.Marshal(s); return string(j) }
	delta := func(text string) string {
		return "event: content_block_delta\ndata: " + `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + text + "}}\n\n"
	}
	return "event: message_start\ndata: " + `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_start\ndata: " + `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
		delta(str(a)) + "event: ping\ndata: {\"type\": \"ping\"}\n\n" + delta(str(b)) + delta(raw) + delta(str(a)) +
		"data: " + extra + "\n\n" + delta(str(b)) +
		"event: content_block_stop\ndata: " + `{"type":"content_block_stop","index":0}` + "\n\n" +
		"event: message_delta\ndata: " + `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}` + "\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
}

// readUpstream is what the provider's stream over body gives, an event a
// line, each read through the token path (RecvToken, then Recv when it
// takes nothing) where a bit of use says so (all of them once use is
// used up; none when never); t fails on a token RecvToken may not return.
func readUpstream(t *testing.T, body string, split, never bool, use []byte) []string {
	var r io.Reader = strings.NewReader(body)
	if split {
		r = iotest.OneByteReader(r)
	}
	return readStream(t, upstreamOf(r, false), never, use)
}

// readStream is readUpstream's reading of s.
func readStream(t *testing.T, s *dialect.TokenUpstream, never bool, use []byte) []string {
	var out []string
	for i := 0; i < 1000; i++ {
		if !never && (i/8 >= len(use) || use[i/8]&(1<<(i%8)) != 0) {
			if text, ok := s.RecvToken(); ok {
				if text == "" || strings.IndexFunc(text, func(r rune) bool { return r >= 0x80 }) >= 0 {
					t.Fatalf("RecvToken %q: not a token's text", text)
				}
				out = append(out, stream.Delta(text).String())
				continue
			}
		}
		ev, err := s.Recv()
		if err != nil {
			return append(out, "end: "+err.Error())
		}
		out = append(out, ev.String())
	}
	t.Fatal("no end")
	return nil
}

// TestTokenPath: the text deltas of a plain text come through the token
// path; the events around them, and texts with escapes or beyond ASCII,
// through Recv, in the same order as Recv alone gives them.
func TestTokenPath(t *testing.T) {
	body := tokenPathBody("Hello", " world", `"\u00e9 \"q\""`, `{"type":"ping"}`)
	want := readUpstream(t, body, false, true, nil)
	if !slices.Contains(want, `delta(output," world")`) || !slices.Contains(want, `delta(output,"é \"q\"")`) || len(want) != 8 {
		t.Fatalf("Recv alone: %q", want)
	}
	for _, split := range []bool{false, true} {
		if got := readUpstream(t, body, split, false, nil); !slices.Equal(got, want) {
			t.Errorf("split %v: through the token path\n%q\nwant %q", split, got, want)
		}
	}
}

// FuzzTokenPath holds the token path (TokenUpstream over the text shape) to
// Recv alone: the same events and end from any texts, any raw text value
// and any event among them, whichever reads take the token path.
func FuzzTokenPath(f *testing.F) {
	f.Add("Hello", " world", `"a"`, `{"type":"ping"}`, uint8(0x55), false)
	f.Add("a", "é", `"a\nb"`, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}`, uint8(0xff), true)
	f.Add("", "<&>", `"\ud800"`, `{"type":"error","error":{"type":"overloaded_error","message":"m"}}`, uint8(0x0f), false)
	f.Add("x", "y", `"bad`+"\xff"+`"`, `{"type":"message_stop"}`, uint8(3), false)
	f.Fuzz(func(t *testing.T, a, b, raw, extra string, use uint8, split bool) {
		if strings.ContainsAny(raw+extra, "\r\n") {
			return
		}
		body := tokenPathBody(a, b, raw, extra)
		want := readUpstream(t, body, false, true, nil)
		for _, u := range [][]byte{nil, {use}} {
			if got := readUpstream(t, body, split, false, u); !slices.Equal(got, want) {
				t.Fatalf("through the token path (%v)\n%q\nwant %q", u, got, want)
			}
		}
	})
}

// FuzzTokenPathFraming is FuzzTokenPath over events framed in the other
// ways SSE allows (dialecttest.Reframe): the token path, which matches an
// event's lines as it reads them (sse.Reader.NextShaped), takes only what
// Recv reads the same.
func FuzzTokenPathFraming(f *testing.F) {
	f.Add("Hello", " world", []byte{0, 3, 0, 1, 3, 2, 5, 4, 6, 7}, uint8(0x55), false)
	f.Add("a", "b", []byte{3}, uint8(0xff), true)
	f.Add("x", "", []byte{7, 0}, uint8(0x0f), false)
	f.Fuzz(func(t *testing.T, a, b string, frame []byte, use uint8, split bool) {
		body := dialecttest.Reframe(tokenPathBody(a, b, `"c"`, `{"type":"ping"}`), frame)
		want := readUpstream(t, body, false, true, nil)
		for _, u := range [][]byte{nil, {use}} {
			if got := readUpstream(t, body, split, false, u); !slices.Equal(got, want) {
				t.Fatalf("through the token path (%v)\n%q\nwant %q", u, got, want)
			}
		}
	})
}
