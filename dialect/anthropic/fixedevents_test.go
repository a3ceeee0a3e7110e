package anthropic

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// rawNext is events.ReadEvents without the fixed events' shapes: every event
// read by NextRaw and decoded by Decode, the reference the shapes are
// held to.
func (e *events) rawNext() ([]stream.Event, error) {
	ev, err := e.r.NextRaw()
	if err == io.EOF {
		return nil, stream.Errorf(stream.CodeUpstream, "anthropic: stream ended before message_stop")
	}
	if err != nil {
		return nil, err
	}
	evs, err := e.d.Decode(ev.Event, ev.Data)
	if finishes(evs) {
		e.r.Release()
	}
	return evs, err
}

// rawEvents reads with rawNext, without a method value's allocation (not
// one the provider's events make).
type rawEvents events

func (e *rawEvents) ReadEvents() ([]stream.Event, error) { return (*events)(e).rawNext() }

// upstreamOf is the provider's stream over the body r, its events read
// by events.ReadEvents or, when raw, rawNext.
func upstreamOf(r io.Reader, raw bool) *dialect.TokenUpstream {
	e := new(events)
	s := dialect.NewTokenUpstream(context.Background(), nil, &e.d.text.str)
	var read dialect.EventReader = e
	if raw {
		read = (*rawEvents)(e)
	}
	s.Begin(io.NopCloser(r), read)
	e.r = s.Events(maxEvent)
	if !raw { // raw: the reader alone
		e.r.SetNames(wireNames)
	}
	return s
}

// The ways recvAll reads a body: as much as the reader asks for, a byte
// a read, an event a read (as upstreams send them: a shape takes only an
// event whole in the reader's buffer).
const (
	readWhole = iota
	readBytes
	readEvents
	readWays
)

// recvAll is what the provider's stream over body gives through Recv
// alone (no token path), read by events.ReadEvents or, when raw, rawNext.
func recvAll(t *testing.T, body string, reads int, raw bool) []string {
	var r io.Reader = strings.NewReader(body)
	switch reads {
	case readBytes:
		r = iotest.OneByteReader(r)
	case readEvents:
		resp, _ := dialecttest.Canned{Body: []byte(body)}.RoundTrip(&http.Request{})
		r = resp.Body
	}
	return readStream(t, upstreamOf(r, raw), true, nil)
}

// fixedBody is a streamed answer with the fixed events in Runnel's order
// (ping after message_start) or the API's (after the text block's
// start), a text block of index index (its stop's: stopIndex) whose
// first delta's text is first (a JSON value), and message_stop's data
// stop.
func fixedBody(apiOrder bool, index, stopIndex, ping, first, stop string) string {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	start := ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}`)
	block := ev("content_block_start", `{"type":"content_block_start","index":`+index+`,"content_block":{"type":"text","text":""}}`)
	pings := ev("ping", ping)
	if apiOrder {
		start += block + pings
	} else {
		start += pings + block
	}
	delta := func(text string) string {
		return ev("content_block_delta", `{"type":"content_block_delta","index":`+index+`,"delta":{"type":"text_delta","text":`+text+`}}`)
	}
	return start + delta(first) + delta(`" more"`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":`+stopIndex+`}`) +
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}`) +
		ev("message_stop", stop)
}

// oneDelta is a body of fixedBody without its second delta: the event
// after the first is the block's stop (which recvAll, taking no token
// path, otherwise reads after the second).
func oneDelta(body string) string {
	i := strings.Index(body, `" more"}}`)
	if i < 0 {
		return body
	}
	start := strings.LastIndex(body[:i], "event: content_block_delta\n")
	return body[:start] + body[i+len(`" more"}}`)+2:]
}

// TestFixedEvents: a stream read with the fixed events' shapes gives what
// NextRaw and Decode alone give, for the events as the shapes take them
// and as they do not (another index, ping data or text; an index
// encoding/json refuses; a message_stop with more after its brace; a
// thinking block first; a stream cut short).
func TestFixedEvents(t *testing.T) {
	bodies := []string{
		fixedBody(false, "0", "0", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`),
		fixedBody(true, "0", "0", `{"type": "ping"}`, `"Hello"`, `{"type":"message_stop"}`),
		fixedBody(false, "12", "12", `{}`, `"a\nb"`, `{"type":"message_stop"}`),
		fixedBody(false, "0", "0", `x`, `""`, `{"type":"message_stop"}}`),
		fixedBody(true, "00", "00", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"} `),
		fixedBody(false, "1234567890123456789", "1234567890123456789", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`),
		fixedBody(false, "-1", "-1", `{"type":"ping"}`, `"é"`, `{"type": "message_stop"}`),
		fixedBody(false, "0", "00", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`),
		fixedBody(true, "3", "1234567890123456789", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`),
		fixedBody(false, "0", "7", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`),
		strings.Replace(fixedBody(false, "1", "1", `{"type":"ping"}`, `"Hi"`, `{"type":"message_stop"}`), "event: content_block_start\n",
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"+
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n"+
				"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"+
				"event: content_block_start\n", 1),
	}
	whole := fixedBody(false, "0", "0", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`)
	for _, cut := range []string{"event: ping", "event: content_block_start", "event: content_block_delta", "event: message_stop"} {
		bodies = append(bodies, whole[:strings.Index(whole, cut)])
	}
	for i := range bodies {
		bodies = append(bodies, oneDelta(bodies[i]))
	}
	for i, body := range bodies {
		want := recvAll(t, body, readWhole, true)
		for reads := range readWays {
			if got := recvAll(t, body, reads, false); !slices.Equal(got, want) {
				t.Errorf("body %d, reads %d:\n%q\nwant %q", i, reads, got, want)
			}
		}
	}
}

// TestFixedEventsTakeNoName: read with the shapes, the ping, the text
// block's start, its delta and stop, and message_stop of Runnel's stream
// of one token (ids and all) do not pass through NextRaw, which makes
// each new event name a string, and message_start's and message_delta's,
// which do, are among the reader's names (wireNames): seven allocations
// fewer than NextRaw alone without them.
func TestFixedEventsTakeNoName(t *testing.T) {
	if raceEnabled {
		t.Skip("the reader's buffer comes from a pool, which drops some under the race detector")
	}
	body := dialecttest.Reframe(oneDelta(fixedBody(false, "0", "0", `{"type":"ping"}`, `"Runnel"`, `{"type":"message_stop"}`)), []byte{3})
	if strings.Count(body, "content_block_delta\n") != 1 {
		t.Fatalf("not one delta:\n%s", body)
	}
	allocs := func(raw bool) float64 {
		return testing.AllocsPerRun(50, func() { recvAll(t, body, readEvents, raw) })
	}
	if raw, shaped := allocs(true), allocs(false); raw-shaped != 7 {
		t.Errorf("%v allocations with the shapes, %v without: want 7 fewer", shaped, raw)
	}
}

// FuzzFixedEvents holds events.ReadEvents to NextRaw and Decode alone over the
// fixed events' variations, one delta or two (reads' top bit), SSE's
// other framings (dialecttest.Reframe) and the ways to read a body.
func FuzzFixedEvents(f *testing.F) {
	f.Add(false, "0", "0", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`, []byte{}, uint8(readEvents))
	f.Add(false, "0", "00", `{"type":"ping"}`, `"Hello"`, `{"type":"message_stop"}`, []byte{}, uint8(0x80|readEvents))
	f.Add(true, "7", "7", `{"type": "ping"}`, `"a\u00e9"`, `{"type":"message_stop"}}`, []byte{3}, uint8(readBytes))
	f.Add(false, "01", "1", `{`, `""`, `{"type":"message_stop"`, []byte{0, 3, 1, 2, 4, 5, 6, 7, 8}, uint8(0x80|readEvents))
	f.Fuzz(func(t *testing.T, apiOrder bool, index, stopIndex, ping, first, stop string, frame []byte, reads uint8) {
		body := fixedBody(apiOrder, index, stopIndex, ping, first, stop)
		if reads&0x80 != 0 {
			body = oneDelta(body)
		}
		body = dialecttest.Reframe(body, frame)
		want := recvAll(t, body, readWhole, true)
		if got := recvAll(t, body, int(reads%readWays), false); !slices.Equal(got, want) {
			t.Fatalf("with the shapes:\n%q\nwant %q", got, want)
		}
	})
}
