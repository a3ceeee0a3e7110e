package anthropic

import (
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// callEvents are the once-a-call events callEvent must take: as
// Anthropic's API sends them (older and newer usage), as Runnel's own
// server and the mock send them, and in other orders and with other keys
// the general path takes too.
var callEvents = [][2]string{
	{"message_start", `{"type":"message_start","message":{"id":"msg_01HXz5","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"msg_mock-1","type":"message","role":"assistant","model":"default","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`},
	{"message_start", `{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_1","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":3,"cache_read_input_tokens":7,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"m","container":null,"usage":{"input_tokens":9},"stop_reason":"x","id":"again"}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"id":"b","model":"n","usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","stop_reason":null,"usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"x","stop_sequence":null,"usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2},"container":null}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2,"service_tier":"standard"}}}`},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
	{"content_block_start", `{"type":"content_block_start","index":12,"content_block":{"type":"text","text":""}}`},
	{"content_block_stop", `{"type":"content_block_stop","index":0}`},
	{"content_block_stop", `{"type":"content_block_stop","index":123456789012345678}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"input_tokens":3,"output_tokens":15}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"something_new","stop_sequence":""},"usage":{"input_tokens":0,"cache_read_input_tokens":4,"output_tokens":1,"server_tool_use":{"web_search_requests":0}}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":"x"},"usage":{}}`},
	{"message_stop", `{"type":"message_stop"}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Runnel"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":""}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" a <b> & c"}}`},
}

// leftCallEvents are those shapes changed so that callEvent leaves them to
// the general path (which takes most of them, some as errors).
var leftCallEvents = [][2]string{
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1},"usage":{"output_tokens":2}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m\u00e9","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"Usage":{"input_tokens":1}}}`},
	{"message_start", ` {"type":"message_start","message":{"usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1}}} `},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1}},"x":1}`},
	{"message_start", `{"type":"message_start","message":{}}`},
	{"message_start", `{"type":"message_start","message":{"id":null,"usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"m\u00e9","usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"mé","usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"content":[{"type":"text","text":"a"}]}}`},
	{"message_start", `{"type":"message_start","message":{"usage":null}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1},"usage":{"output_tokens":2}}}`},
	{"message_start", `{"type":"message_start","message":{"Usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"Input_tokens":1}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1,"input_tokens":2}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2,"input_tokens":3}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2},"usage":{}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":01}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":-1}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1.0}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1e2}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1234567890123456789}}}`},
	{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":1 }}}`},
	{"message_start", `{"type": "message_start","message":{"usage":{"input_tokens":1}}}`},
	{"message_start", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hi"}}`},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}`},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""},"x":1}`},
	{"content_block_start", `{"type":"content_block_start","index":00,"content_block":{"type":"text","text":""}}`},
	{"content_block_start", `{"type":"content_block_start","index":-1,"content_block":{"type":"text","text":""}}`},
	{"content_block_stop", `{"type":"content_block_stop","index":}`},
	{"content_block_stop", `{"type":"content_block_stop","index":1.5}`},
	{"content_block_stop", `{"type":"content_block_stop","index":0,"index":1}`},
	{"content_block_stop", `{"type":"content_block_stop"}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":null}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":"a\nb"},"usage":{"output_tokens":1}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":"\u00e9"},"usage":{"output_tokens":1}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_sequence":null,"stop_reason":"end_turn"},"usage":{"output_tokens":1}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1},"usage":{"output_tokens":2}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\nb"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"é"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}} `},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":1}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":1}}`},
	{"message_stop", `{"type":"message_stop","x":1}`},
	{"message_stop", `{}`},
	{"ping", `{"type":"ping"}`},
}

// decoderAfter is a decoder that has read a message_start and a
// message_delta: a state for callEvent to change or keep.
func decoderAfter(in, out int, reason, seq string) Decoder {
	var d Decoder
	d.usage = stream.Usage{PromptTokens: in, CompletionTokens: out}
	d.stopReason, d.stopSeq = reason, seq
	return d
}

// sameDecoders compares what callEvent and the general path leave in a
// decoder.
func sameDecoders(t *testing.T, what string, got, want *Decoder) {
	t.Helper()
	if got.usage != want.usage || got.stopReason != want.stopReason || got.stopSeq != want.stopSeq {
		t.Fatalf("%s: decoder usage %+v, stop %q %q; the general path's %+v, %q %q",
			what, got.usage, got.stopReason, got.stopSeq, want.usage, want.stopReason, want.stopSeq)
	}
	g, w := &got.text, &want.text
	gHead, gTail := g.str.Ends()
	wHead, wTail := w.str.Ends()
	if g.name != w.name || string(gHead) != string(wHead) || string(gTail) != string(wTail) {
		t.Fatalf("%s: text shape %q %q %q; the general path's %q %q %q", what, g.name, gHead, gTail, w.name, wHead, wTail)
	}
}

// checkCallEvent decodes name and data with callEvent and, from the same
// state, with the general path: if callEvent takes the event, the general
// path takes it too, with the same events and the same state after; if
// not, callEvent changed nothing. It reports whether callEvent took it.
func checkCallEvent(t *testing.T, name, data string, before Decoder) bool {
	t.Helper()
	fast, general := before, before
	buf := []byte(data)
	evs, ok := fast.callEvent(name, buf)
	if !ok {
		sameDecoders(t, "left "+data, &fast, &before)
		return false
	}
	evs = append([]stream.Event(nil), evs...)
	for i := range buf {
		buf[i] = 'X' // the reader's buffer, reused: nothing may be a view of it
	}
	want, err := general.decode(name, []byte(data))
	if err != nil {
		t.Fatalf("%s: callEvent took it, the general path says %v", data, err)
	}
	if !reflect.DeepEqual(evs, want) && (len(evs) > 0 || len(want) > 0) {
		t.Fatalf("%s: callEvent %v, the general path %v", data, evs, want)
	}
	sameDecoders(t, data, &fast, &general)
	return true
}

func TestCallEvents(t *testing.T) {
	states := []Decoder{{}, decoderAfter(7, 3, "stop_sequence", "STOP"), decoderAfter(0, 0, "end_turn", "")}
	for _, ev := range callEvents {
		for _, d := range states {
			if !checkCallEvent(t, ev[0], ev[1], d) {
				t.Errorf("%s: not taken", ev[1])
			}
		}
	}
	for _, ev := range leftCallEvents {
		if checkCallEvent(t, ev[0], ev[1], decoderAfter(7, 3, "stop_sequence", "STOP")) {
			t.Errorf("%s: taken", ev[1])
		}
	}
}

// TestCallEventsState: the usage and stop reason the fast path reads end
// up in the stream's last events.
func TestCallEventsState(t *testing.T) {
	var d Decoder
	var got []stream.Event
	for _, ev := range [][2]string{
		{"message_start", `{"type":"message_start","message":{"id":"m","usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":4}}`},
		{"message_stop", `{"type":"message_stop"}`},
	} {
		if _, ok := d.callEvent(ev[0], []byte(ev[1])); !ok {
			t.Fatalf("%s: not taken", ev[1])
		}
		evs, err := d.Decode(ev[0], []byte(ev[1]))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	want := []stream.Event{stream.UsageEvent(stream.Usage{PromptTokens: 17, CompletionTokens: 4}), stream.StoppedBy("END")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	stop := []byte(`{"type":"message_stop"}`)
	if n := testing.AllocsPerRun(100, func() { d.Decode("message_stop", stop) }); n != 0 {
		t.Fatalf("message_stop allocates %v times", n)
	}
}

// FuzzCallEvents: whatever callEvent takes, the general path takes with
// the same events and state; what it leaves, it leaves untouched.
func FuzzCallEvents(f *testing.F) {
	for _, ev := range append(callEvents, leftCallEvents...) {
		f.Add(ev[0], ev[1], 7, 3, "stop_sequence", "STOP")
	}
	f.Fuzz(func(t *testing.T, name, data string, in, out int, reason, seq string) {
		checkCallEvent(t, name, data, decoderAfter(in, out, reason, seq))
		// The same bytes under every name callEvent reads.
		for _, n := range []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"} {
			if strings.Contains(data, n) {
				checkCallEvent(t, n, data, decoderAfter(in, out, reason, seq))
			}
		}
	})
}
