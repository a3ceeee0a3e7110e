package gemini

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// chunkCases are chunks scanChunk must decode as encoding/json does, or
// leave to it.
var chunkCases = []string{
	`{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}`,
	`{"candidates": [{"content": {"parts": [{"text": "a\u00e9\n", "thought": true}, {"text": ""}, {"text": "b"}], "role": "model"}, "finishReason": "STOP", "index": 0, "safetyRatings": [{"x": 1}]}], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2, "thoughtsTokenCount": 4, "promptTokensDetails": [{"modality": "TEXT"}]}, "modelVersion": "g", "responseId": "r"}`,
	`{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP","index":1}]}`,
	`{"candidates":[{"index":0,"content":null,"finishReason":null}],"usageMetadata":null,"error":null,"promptFeedback":null}`,
	`{"candidates":null,"usageMetadata":{}}`,
	`{"candidates":[{"content":{"parts":[{"text":"x","thought":null,"functionCall":null,"functionResponse":null}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]},"finishReason":"STOP"}]}`,
	`{"candidates":[],"promptFeedback":{"blockReason":"SAFETY"}}`,
	`{"error":{"code":429,"message":"slow","status":"RESOURCE_EXHAUSTED"}}`,
	`{"Candidates":[{"content":{"parts":[{"text":"x"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"Text":"x"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"text":"x"}]}}],"candidates":[]}`,
	`{"candidates":[{"index":1.0}]}`,
	`{"usageMetadata":{"promptTokenCount":3,"promptTokenCount":4}}`,
	`{"candidates":[{"content":{"parts":[{"text":"\xff"}]}}]} `,
	`{"candidates":[{"content":{"parts":[{"text":"x"}]}}]} x`,
	`{"candidates":[{"content":{"parts":[{"text":"x"}]}}]`,
	`null`,
	`{"modelVersion":1}`,
}

// The scanner's events and the Decoder's state after them are encoding/json's
// (decodeJSON), for every chunk it takes; and chunks of text are the ones
// it takes.
func TestScanChunkMatchesEncodingJSON(t *testing.T) {
	for _, data := range chunkCases {
		checkChunk(t, data)
	}
	for _, name := range []string{"thinking.sse", "tool.sse"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			_, taken := scanChunk([]byte(data))
			if want := !strings.Contains(data, "functionCall"); taken != want {
				t.Errorf("scanChunk took %s: %v, want %v", data, taken, want)
			}
			checkChunk(t, data)
		}
	}
}

// checkChunk fails t if scanChunk takes data and a Decoder decodes it
// otherwise than decodeJSON, or takes data decodeJSON refuses.
func checkChunk(t *testing.T, data string) {
	t.Helper()
	if _, ok := scanChunk([]byte(data)); !ok {
		return
	}
	for _, before := range []Decoder{{}, {usage: stream.Usage{PromptTokens: 1}, hasUsage: true, finish: "MAX_TOKENS", calls: 2}} {
		want, got := before, before
		wantEvs, err := want.decodeJSON([]byte(data))
		if err != nil {
			t.Fatalf("scanChunk took %q, which encoding/json refuses: %v", data, err)
		}
		gotEvs, err := got.Decode([]byte(data))
		if err != nil || !reflect.DeepEqual(gotEvs, wantEvs) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanned %+v %+v %v; encoding/json %+v %+v", data, gotEvs, got, err, wantEvs, want)
		}
	}
}

// The events of a scanned chunk do not share the reader's buffer, which
// the next event overwrites.
func TestScanChunkCopiesWhatItKeeps(t *testing.T) {
	data := []byte(`{"candidates":[{"content":{"parts":[{"text":"Hello"}]},"finishReason":"STOP"}]}`)
	c, ok := scanChunk(data)
	if !ok {
		t.Fatal("not taken")
	}
	for i := range data {
		data[i] = 'X'
	}
	if c.evs[0].Text != "Hello" || c.finish != "STOP" {
		t.Fatalf("strings changed with the buffer: %+v", c)
	}
}

// FuzzChunkScan feeds any chunk to the scanner and to encoding/json:
// where the scanner takes it, the events and the Decoder's state are the
// same (run: go test -fuzz FuzzChunkScan ./dialect/gemini/).
func FuzzChunkScan(f *testing.F) {
	for _, data := range chunkCases {
		f.Add(data)
	}
	f.Fuzz(checkChunk)
}

// A chunk of text with its usage costs two allocations: the text's copy
// and the events. (Usage held by pointer was a third.)
func TestScanChunkAllocations(t *testing.T) {
	data := []byte(`{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}`)
	var d Decoder
	if n := testing.AllocsPerRun(100, func() { d.Decode(data) }); n > 2 {
		t.Errorf("%v allocations a chunk", n)
	}
}

// The key switches are slices.Index on their lists.
func TestKeyIndexes(t *testing.T) {
	for _, keys := range []struct {
		list  []string
		index func(string) int
	}{{responseKeys, responseKey}, {candidateKeys, candidateKey}, {contentKeys, contentKey}, {partKeys, partKey}, {usageKeys, usageKey}} {
		for _, k := range append(slices.Clone(keys.list), "Candidates", "", "other", "responseId", "texts") {
			if got, want := keys.index(k), slices.Index(keys.list, k); got != want {
				t.Errorf("%q: %d, want %d", k, got, want)
			}
		}
	}
}
