package anthropic

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// liteEvents are events parseLite must take: a stream's events as
// Anthropic and Runnel's own server send them, and variations in
// whitespace, nulls, unknown keys and escapes.
var liteEvents = [][2]string{
	{"message_start", `{"type":"message_start","message":{"id":"msg_01HXz5","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}`},
	{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":7,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}`},
	{"message_start", ` { "type" : "message_start" , "message" : { "usage" : { "input_tokens" : -3 } , "content" : [ ] } } `},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`},
	{"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}`},
	{"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"f","input":{"a":[1,2.5e-3,{"b":null}],"c":"\u00e9"}}}`},
	{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"Hi","citations":null}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\n\"q\" \u00e9 é \ud800"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I need"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"Paris"}}`},
	{"content_block_stop", `{"type":"content_block_stop","index":0}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"input_tokens":3,"output_tokens":15}}`},
	{"message_stop", `{"type":"message_stop"}`},
	{"message_stop", `{}`},
	{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":null,"usage":null,"error":null,"message":null,"content_block":null}`},
}

// leftEvents are events parseLite leaves to encoding/json: errors, keys
// it would read otherwise than encoding/json, values it does not read.
var leftEvents = []string{
	``, `null`, `[]`, `{`, `{"type":"x"} x`, `{"type":"x",}`, `{"type":5}`, `{"index":1.0}`, `{"index":1e2}`,
	`{"index":"1"}`, `{"index":01}`, `{"index":1234567890123456789}`,
	`{"type":"a","type":"b"}`, `{"Type":"a"}`, `{"tYPE":"a"}`, `{"delta":{"ſignature":"x"}}`, `{"delta":{"thinKing":"x"}}`, `{"delta":{"thin\u212aing":"x"}}`,
	`{"delta":{"text":"a","text":"b"}}`, `{"delta":{"Text":"a"}}`, `{"delta":{"text":"a\x"}}`, `{"delta":{"text":"a` + "\x01" + `"}}`,
	`{"message":{"content":[{"type":"text","text":"a"}]}}`, `{"content_block":{"content":"a"}}`, `{"content_block":{"is_error":1}}`,
	`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `{"x":-}`, `{"x":1.}`, `{"x":1e}`, `{"x":tru}`,
	`{"usage":{"output_tokens":5,"output_tokens":6}}`, `{"content_block":{"input":{"a":}}}`,
}

// TestParseLite: parseLite takes the events a stream has, parsed as
// encoding/json parses them, and leaves the others.
func TestParseLite(t *testing.T) {
	for _, ev := range liteEvents {
		var l liteEvent
		if _, ok := l.parse([]byte(ev[1])); !ok {
			t.Errorf("%s: not taken", ev[1])
			continue
		}
		var want StreamEvent
		if err := json.Unmarshal([]byte(ev[1]), &want); err != nil || !reflect.DeepEqual(l.ev, want) {
			t.Errorf("%s:\n got %+v\nwant %+v (%v)", ev[1], l.ev, want, err)
		}
	}
	for _, data := range leftEvents {
		var l liteEvent
		if _, ok := l.parse([]byte(data)); ok {
			t.Errorf("%s: taken as %+v", data, l.ev)
		}
	}
}

// TestTextAt: parseLite says where a text delta's text string begins.
func TestTextAt(t *testing.T) {
	for _, data := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		`{"delta":{"text":"Hello","type":"text_delta"},"index":0,"type":"content_block_delta"}`,
	} {
		var l liteEvent
		at, ok := l.parse([]byte(data))
		if !ok || at < 0 || !strings.HasPrefix(data[at:], `"Hello"`) {
			t.Errorf("%s: text at %d %v", data, at, ok)
		}
	}
	var l liteEvent
	if at, ok := l.parse([]byte(`{"delta":{"text":null}}`)); !ok || at != -1 {
		t.Errorf("null text at %d %v", at, ok)
	}
}

// FuzzParseLite: whatever parseLite takes, encoding/json decodes without
// error to the same event.
func FuzzParseLite(f *testing.F) {
	for _, ev := range liteEvents {
		f.Add(ev[1])
	}
	for _, data := range leftEvents {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var l liteEvent
		if _, ok := l.parse([]byte(data)); !ok {
			return
		}
		var want StreamEvent
		if err := json.Unmarshal([]byte(data), &want); err != nil || !reflect.DeepEqual(l.ev, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v (%v)", data, l.ev, want, err)
		}
	})
}

// BenchmarkDecodeStream decodes one streamed answer of 50 text deltas, its
// opening and closing events included: the upstream decoder's work per
// call (ns/token: per text delta, the rest shared out).
func BenchmarkDecodeStream(b *testing.B) {
	evs := [][2]string{
		{"message_start", `{"type":"message_start","message":{"id":"msg_01HXz5","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"ping", `{"type": "ping"}`},
	}
	for i := range 50 {
		evs = append(evs, [2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"tok` + strings.Repeat("x", i%5) + `"}}`})
	}
	evs = append(evs, [][2]string{
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`},
		{"message_stop", `{"type":"message_stop"}`},
	}...)
	data := make([][]byte, len(evs))
	for i, ev := range evs {
		data[i] = []byte(ev[1])
	}
	b.ReportAllocs()
	for b.Loop() {
		var d Decoder
		n := 0
		for i, ev := range evs {
			out, err := d.Decode(ev[0], data[i])
			if err != nil {
				b.Fatal(err)
			}
			n += len(out)
		}
		if n != 52 {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/token")
}

// FuzzMessageStart: message_start's data, made by appends, is what
// json.Marshal makes of the message (whose id is "msg_" and the call's).
func FuzzMessageStart(f *testing.F) {
	f.Add("call_1", "anthropic/claude", 12)
	f.Add("call_3fa2-x.9_Z", "m", 0)
	f.Add("<&>", "m\u2028\xff\"\\", -1)
	f.Add("\b", "m\f\t\n", 0)
	f.Fuzz(func(t *testing.T, id, model string, inputTokens int) {
		want, _ := json.Marshal(struct {
			Type    string          `json:"type"`
			Message MessageResponse `json:"message"`
		}{"message_start", MessageResponse{ID: "msg_" + id, Type: "message", Role: "assistant", Model: model, Content: []Block{}, Usage: Usage{InputTokens: inputTokens}}})
		if got := appendMessageStart([]byte("x"), id, model, inputTokens); string(got) != "x"+string(want) {
			t.Fatalf("%q\nwant x%s", got, want)
		}
	})
}
