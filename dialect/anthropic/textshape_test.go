package anthropic

import (
	"fmt"
	"reflect"
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
	if _, err := d.Decode("content_block_delta", []byte(textDeltas[0])); err != nil || len(d.text.ends) == 0 {
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
	// The last "text" key gives the text, unless a key encoding/json
	// folds to it comes later.
	for i, data := range textDeltas[5:8] {
		var d Decoder
		d.Decode("content_block_delta", []byte(data))
		if recorded := len(d.text.ends) != 0; recorded != (i < 2) {
			t.Errorf("%s: shape recorded %v", data, recorded)
		}
	}
}

// FuzzDecoderShape checks the text shape against encoding/json: after any
// first event, a second decodes to the same events and error whether or
// not the first one's shape serves.
func FuzzDecoderShape(f *testing.F) {
	for i := range textDeltas {
		f.Add("content_block_delta", textDeltas[0], "content_block_delta", textDeltas[i])
		f.Add("content_block_delta", textDeltas[i], "content_block_delta", textDeltas[1])
	}
	f.Add("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","text":"x"},"usage":{"output_tokens":2}}`,
		"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","text":"y"},"usage":{"output_tokens":2}}`)
	f.Fuzz(func(t *testing.T, name1, data1, name2, data2 string) {
		var shaped, full Decoder
		shaped.Decode(name1, []byte(data1))
		full.Decode(name1, []byte(data1))
		full.text = textShape{}
		buf := []byte(data2)
		got, gerr := shaped.Decode(name2, buf)
		for i := range buf {
			buf[i] = 'X'
		}
		want, werr := full.Decode(name2, []byte(data2))
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("after %s %q, %s %q: %v %v, without the shape %v %v", name1, data1, name2, data2, got, gerr, want, werr)
		}
	})
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

// A stream whose text deltas differ outside their text in every event is
// decoded in full each time, and probed for a shape at most maxProbes
// times, not once a token.
func TestTextShapeProbesBounded(t *testing.T) {
	var d Decoder
	for i := range 3 * maxProbes {
		data := fmt.Sprintf(`{"type":"content_block_delta","index":0,"seq":%d,"delta":{"type":"text_delta","text":"t%d"}}`, i, i)
		evs, err := d.Decode("content_block_delta", []byte(data))
		if err != nil || len(evs) != 1 || evs[0].Text != fmt.Sprintf("t%d", i) {
			t.Fatalf("event %d: %v %v", i, evs, err)
		}
	}
	if d.text.probes != maxProbes {
		t.Errorf("%d probes over %d events, want %d", d.text.probes, 3*maxProbes, maxProbes)
	}
}
