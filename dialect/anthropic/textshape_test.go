package anthropic

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// textDeltas are text delta events of one stream, and events like them.
var textDeltas = []string{
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\n\"q\" \u00e9 é \ud800"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"bad` + "\xff" + `"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","text":"b"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"delta":{"type":"text_delta","text":"b"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","Text":"b"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}`,
	`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"a"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","text":"a"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\x"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":"b"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"runnel-probe"}}`,
}

// TestTextShape: a text delta like the last one but for its text is
// taken from the last one's shape; events that differ elsewhere are not,
// nor an event whose text a later key overrides.
func TestTextShape(t *testing.T) {
	var d Decoder
	if _, err := d.Decode("content_block_delta", []byte(textDeltas[0])); err != nil || !d.text.str.Has() {
		t.Fatalf("no shape recorded from %s: %v", textDeltas[0], err)
	}
	for i, data := range textDeltas {
		text, ok := d.text.parse("content_block_delta", []byte(data))
		want, err := (&Decoder{}).Decode("content_block_delta", []byte(data))
		switch i {
		case 0, 1, 2, 3, 4, 8, 13:
			if !ok || err != nil || len(want) != 1 || want[0].Text != text {
				t.Errorf("%s: from the shape %q %v, want %v %v", data, text, ok, want, err)
			}
		default:
			if ok {
				t.Errorf("%s: taken from the shape of %s", data, textDeltas[0])
			}
		}
	}
	if _, ok := d.text.parse("other", []byte(textDeltas[1])); ok {
		t.Error("an event of another name was taken from the shape")
	}
	// An event with two text keys, or one that folds to "text", is left
	// to encoding/json, and gives no shape.
	for _, data := range textDeltas[5:8] {
		var d Decoder
		d.Decode("content_block_delta", []byte(data))
		if d.text.str.Has() {
			t.Errorf("%s: shape recorded", data)
		}
	}
}

// FuzzDecoderShape checks the decoder (text shapes, parseLite) against
// encoding/json alone: after any first event, a second decodes to the
// same events and error, and they own their strings.
func FuzzDecoderShape(f *testing.F) {
	for i := range textDeltas {
		f.Add("content_block_delta", textDeltas[0], "content_block_delta", textDeltas[i])
		f.Add("content_block_delta", textDeltas[i], "content_block_delta", textDeltas[1])
	}
	f.Add("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","text":"x"},"usage":{"output_tokens":2}}`,
		"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","text":"y"},"usage":{"output_tokens":2}}`)
	for _, ev := range liteEvents {
		f.Add(ev[0], ev[1], "message_stop", `{"type":"message_stop"}`)
		f.Add("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f"}}`, ev[0], ev[1])
	}
	f.Fuzz(func(t *testing.T, name1, data1, name2, data2 string) {
		var fast, full Decoder
		buf := []byte(data1)
		got1, gerr1 := fast.Decode(name1, buf)
		got1 = slices.Clone(got1)
		scribble(buf)
		want1, werr1 := full.decodeJSON(name1, []byte(data1))
		want1 = slices.Clone(want1)
		buf = []byte(data2)
		got2, gerr2 := fast.Decode(name2, buf)
		scribble(buf)
		want2, werr2 := full.decodeJSON(name2, []byte(data2))
		if (gerr1 == nil) != (werr1 == nil) || !reflect.DeepEqual(got1, want1) ||
			(gerr2 == nil) != (werr2 == nil) || !reflect.DeepEqual(got2, want2) {
			t.Fatalf("%s %q, then %s %q: %v %v, %v %v; with encoding/json alone %v %v, %v %v",
				name1, data1, name2, data2, got1, gerr1, got2, gerr2, want1, werr1, want2, werr2)
		}
	})
}

// decodeJSON is Decode with encoding/json alone: no shape, no parseLite.
func (d *Decoder) decodeJSON(name string, data []byte) ([]stream.Event, error) {
	if name == "ping" || len(data) == 0 {
		return nil, nil
	}
	ev, err := unmarshalEvent(name, data)
	if err != nil {
		return nil, err
	}
	return d.events(ev)
}

// scribble overwrites b, the reader's buffer the decoder must not keep.
func scribble(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
}

// BenchmarkDecodeTextDelta is one text delta decoded: alone (first) or
// after the one before (stream, where its shape serves).
func BenchmarkDecodeTextDelta(b *testing.B) {
	events := [][]byte{[]byte(textDeltas[0]), []byte(textDeltas[1])}
	for _, tc := range []struct {
		name  string
		fresh bool
	}{{"first", true}, {"stream", false}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var d Decoder
			i := 0
			for b.Loop() {
				if tc.fresh {
					d.text = textShape{}
				}
				evs, err := d.Decode("content_block_delta", events[i&1])
				if err != nil || len(evs) != 1 || evs[0].Kind != stream.KindDelta {
					b.Fatal(evs, err)
				}
				i++
			}
		})
	}
}

// A stream whose text deltas differ outside their text in every event
// (here a counter) takes no shape from the last one, but parseLite
// takes each, and records its shape.
func TestTextShapeOfEachEvent(t *testing.T) {
	var d Decoder
	for i := range 10 {
		data := fmt.Sprintf(`{"type":"content_block_delta","index":0,"seq":%d,"delta":{"type":"text_delta","text":"t%d"}}`, i, i)
		if _, ok := new(liteEvent).parse([]byte(data)); !ok {
			t.Fatalf("parseLite did not take %s", data)
		}
		evs, err := d.Decode("content_block_delta", []byte(data))
		if err != nil || len(evs) != 1 || evs[0].Text != fmt.Sprintf("t%d", i) || !d.text.str.Has() {
			t.Fatalf("event %d: %v %v, shape %v", i, evs, err, d.text.str.Has())
		}
	}
}

// TestTextShapeKeepsTexts: the texts a stream's deltas decode to share
// blocks (textShape.texts), so each must stay what it was while later
// deltas are read into the same buffer, across the blocks' refills and
// beside texts too long for them; a token's costs no allocation.
func TestTextShapeKeepsTexts(t *testing.T) {
	var d Decoder
	buf := make([]byte, 0, 512)
	decode := func(text string) string {
		buf = append(buf[:0], `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`+text+`"}}`...)
		evs, err := d.Decode("content_block_delta", buf)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%q: %v %v", text, evs, err)
		}
		return evs[0].Text
	}
	var got, want []string
	for i := range 300 {
		text := strings.Repeat(string(rune('a'+i%26)), 1+i*7%90)
		got, want = append(got, decode(text)), append(want, text)
	}
	if !d.text.str.Has() {
		t.Fatal("no delta went through the shape")
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("delta %d's text became %q, want %q", i, got[i], want[i])
		}
	}
	token := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}`)
	if n := testing.AllocsPerRun(100, func() { d.Decode("content_block_delta", token) }); n > 0.1 {
		t.Fatalf("a token's delta allocates %v times", n)
	}
}
